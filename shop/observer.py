"""The inventory observer: turns order events into stock-service calls.

Connected in ``create_app`` with ``sender=app``. ``order_created`` and ``order_status_changed`` are
sent inside the caller's ``db.session`` transaction (by ``shop.orders`` or the session hook), so an
error raised here rolls the whole unit of work back: no order without its stock, no stock
without its order.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session, object_session

from . import signals, stock
from .models import MovementReason, Order
from .orders import returns_stock, takes_stock


def _session_of(order: Order) -> Session:
    session = object_session(order)
    assert session is not None, "the observer only sees orders of a session"
    return session


class InventoryObserver:
    """Takes stock when an order first commits, returns it where it came from when a committed order is cancelled."""

    def connect(self, app: Flask) -> None:
        signals.order_created.connect(self.order_created, sender=app)
        signals.order_status_changed.connect(self.order_status_changed, sender=app)

    def order_created(self, app: Flask, *, order: Order, actor: str) -> None:
        """A new order's rows are written (its lines already checked): take its stock if it commits."""
        if takes_stock(None, order.status):
            stock.take_stock(_session_of(order), order, actor=actor)

    def order_status_changed(
        self, app: Flask, *, order: Order, old_status: str, new_status: str, actor: str, reason: str | None
    ) -> None:
        """An allowed status change, judged under the order's lock: take or return its stock."""
        session = _session_of(order)
        if takes_stock(old_status, new_status):
            stock.check_lines(session, order, taking=True)
            stock.take_stock(session, order, actor=actor)
        elif returns_stock(old_status, new_status):
            stock.return_stock(session, order, actor=actor, reason=reason or MovementReason.ORDER_CANCELLED)
