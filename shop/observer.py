"""The inventory observer: turns order and inventory events into stock-service calls.

Connected in ``create_app`` with ``sender=app``; its receivers run inside the flush
of the caller's transaction, so raising here rolls the whole unit of work back.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import attributes, object_session

from . import signals, stock
from .errors import OrderLocked
from .models import Inventory, MovementReason, Order, OrderStatus, Product, utcnow


class InventoryObserver:
    """Takes stock when an order first commits, returns it when a committed order is cancelled."""

    def connect(self, app: Flask) -> None:
        signals.order_created.connect(self.order_created, sender=app)
        signals.order_status_changed.connect(self.order_status_changed, sender=app)
        signals.order_lines_changed.connect(self.order_lines_changed, sender=app)
        signals.order_deleted.connect(self.order_deleted, sender=app)
        signals.inventory_created.connect(self.inventory_created, sender=app)
        signals.inventory_quantity_assigned.connect(self.inventory_quantity_assigned, sender=app)

    def order_created(self, app: Flask, order: Order) -> None:
        stock.check_status(order.status)
        self._prepare(order, taking=order.status in stock.COMMITTING)

    def order_status_changed(self, app: Flask, order: Order, old_status: str, new_status: str) -> None:
        old_status = stock.lock_order(object_session(order), order)  # as committed, not as loaded
        if new_status == old_status:
            return  # someone else made the same change first
        stock.check_transition(old_status, new_status)
        if new_status in stock.COMMITTING and order.stock_committed_at is None:
            self._prepare(order, taking=True)
        elif new_status == OrderStatus.CANCELLED and order.stock_committed_at is not None:
            session = object_session(order)
            quantities = stock.ordered_quantities(order)
            stock.after_flush(session, lambda: stock.return_stock(session, order, quantities))

    def order_lines_changed(self, app: Flask, order: Order) -> None:
        stock.lock_order(object_session(order), order)
        stock.ensure_lines_editable(order)
        stock.prepare_lines(object_session(order), order, taking=False)

    def order_deleted(self, app: Flask, order: Order) -> None:
        if order.stock_committed_at is not None:
            raise OrderLocked(order.number, "it cannot be deleted")

    def inventory_created(self, app: Flask, inventory: Inventory) -> None:
        if inventory.quantity:
            session = object_session(inventory)
            stock.after_flush(session, lambda: stock.record_initial_stock(session, inventory))

    def inventory_quantity_assigned(
        self, app: Flask, inventory: Inventory, old_quantity: int, new_quantity: int
    ) -> None:
        """A direct ``inventory.quantity = n`` becomes a locked, ledgered adjustment of the difference."""
        session = object_session(inventory)
        attributes.set_committed_value(inventory, "quantity", old_quantity)
        product = session.get(Product, inventory.product_id)
        stock.after_flush(
            session,
            lambda: stock.adjust_stock(
                session,
                product,
                new_quantity - old_quantity,
                MovementReason.ADJUSTMENT,
                note="direct quantity assignment",
            ),
        )

    def _prepare(self, order: Order, *, taking: bool) -> None:
        session = object_session(order)
        requested = stock.prepare_lines(session, order, taking=taking)
        if taking:
            order.stock_committed_at = utcnow()
            stock.after_flush(session, lambda: stock.take_stock(session, order, requested))
