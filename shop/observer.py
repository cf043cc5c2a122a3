"""The inventory observer: turns order events into stock-service calls.

Connected in ``create_app`` with ``sender=app``. Its receivers run inside the caller's
``db.session`` transaction (in the flush), so an error they raise rolls the whole unit of
work back: no order without its stock, no stock without its order.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session, object_session

from . import signals, stock
from .models import MovementReason, Order, OrderStatus, utcnow
from .orders import COMMITTING


def _session_of(order: Order) -> Session:
    session = object_session(order)
    assert session is not None, "the observer only sees orders of a session"
    return session


class InventoryObserver:
    """Takes stock when an order first commits, returns it when a committed order is cancelled."""

    def connect(self, app: Flask) -> None:
        signals.order_created.connect(self.order_created, sender=app)
        signals.order_status_changed.connect(self.order_status_changed, sender=app)

    def order_created(self, app: Flask, *, order: Order, actor: str) -> None:
        """A new order's rows are written (its lines already checked): take its stock if it commits."""
        if order.status in COMMITTING:
            stock.take_stock(_session_of(order), order, stock.ordered_quantities(order), actor=actor)

    def order_status_changed(
        self, app: Flask, *, order: Order, old_status: str, new_status: str, actor: str, reason: str | None
    ) -> None:
        """An allowed status change, judged under the order's lock: take or return its stock.

        A paid or cancelled order is no longer a hold; only a released one keeps its expiry time,
        to show when it ran out.
        """
        session = _session_of(order)
        if new_status != OrderStatus.CONFIRMED and reason != MovementReason.HOLD_EXPIRED:
            order.hold_expires_at = None
        if new_status in COMMITTING and order.stock_committed_at is None:
            quantities = stock.check_lines(session, order, taking=True)
            order.stock_committed_at = utcnow()
            stock.take_stock(session, order, quantities, actor=actor)
        elif new_status == OrderStatus.CANCELLED and order.stock_committed_at is not None:
            stock.return_stock(
                session,
                order,
                stock.ordered_quantities(order),
                actor=actor,
                reason=reason or MovementReason.ORDER_CANCELLED,
            )
