"""The session hook: ORM writes of orders and inventory become signals and stock-service calls.

Like Laravel model events, it acts on every ORM creation or status change of an ``Order``,
whichever code path makes it, so no caller has to remember to take stock:

- before the flush: new orders get their lines checked (nothing invalid reaches an INSERT); a
  written ``Order.status`` is locked, judged and announced as ``order_status_changed``
  (``shop.orders.status_written``); edited lines, deleted orders and directly assigned
  ``Inventory.quantity`` go through their rules;
- after the flush (rows inserted, ids known): ``order_created`` for each new order, an
  ``initial_stock`` ledger row for each new inventory row with stock, and the storefront's search
  terms of new and renamed products (``shop.search``);
- after commit: ``stock_changed`` and ``stock_low`` for what the transaction changed.

The receivers of ``order_created`` and ``order_status_changed`` (``shop.observer``) run inside
the flush: an error they raise rolls the whole unit of work back.

The services every edge calls do not go through the hook: ``shop.orders.place_order`` writes its
order with Core INSERTs and sends ``order_created`` itself, and ``shop.orders.change_status``
judges the change under its lock, sends ``order_status_changed`` itself and writes the row with a
Core UPDATE, each to the same observer in the same transaction. The hook covers every other way
an order is written.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

from flask import Flask
from sqlalchemy import event, inspect
from sqlalchemy.orm import SessionTransaction, attributes

from . import orders, search, signals, stock
from .extensions import DbSession, db
from .models import Inventory, MovementReason, Order, OrderItem, Product, utcnow


def _changed(obj: object, attr: str) -> tuple[Any, Any] | None:
    """(old, new) if ``attr`` of ``obj`` holds a new, different value."""
    history = inspect(obj).attrs[attr].history
    if history.added and history.deleted and history.added[0] != history.deleted[0]:
        return history.deleted[0], history.added[0]
    return None


def _orders_with_edited_lines(session: DbSession, dirty: list[object]) -> list[Order]:
    """Existing orders whose lines this flush adds, changes or removes."""
    edited: dict[int, Order] = {}
    for obj in chain(session.new, dirty, session.deleted):
        order = None
        if isinstance(obj, OrderItem):
            order = obj.order or (session.get(Order, obj.order_id) if obj.order_id else None)
        elif isinstance(obj, Order) and obj in dirty and inspect(obj).attrs["items"].history.has_changes():
            order = obj
        if order is not None and order not in session.new and order not in session.deleted:
            edited[id(order)] = order
    return list(edited.values())


def before_flush(session: DbSession, flush_context: object, instances: object) -> None:
    actor = stock.actor_of(session)
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]

    # Lines first: they are judged by whether the order had taken stock before this flush.
    for order in _orders_with_edited_lines(session, dirty):
        orders.ensure_lines_editable(session, order)

    for obj in session.new:
        if isinstance(obj, Order):
            _check_new_order(session, obj)
    for obj in dirty:
        if isinstance(obj, Order) and (status := _changed(obj, "status")):
            orders.status_written(session, obj, status[1], actor=actor)
        elif isinstance(obj, Inventory) and (quantity := _changed(obj, "quantity")):
            _adjust_to_assigned_quantity(session, obj, *quantity)
    for obj in session.deleted:
        if isinstance(obj, Order):
            orders.ensure_deletable(obj)


def _check_new_order(session: DbSession, order: Order) -> None:
    """Check a new order's lines before its INSERT; one created committing takes stock after it."""
    orders.check_status(order.status)
    stock.check_lines(session, order, taking=orders.takes_stock(None, order.status))
    orders.record_status(order, None, order.status, now=utcnow())


def _adjust_to_assigned_quantity(session: DbSession, inventory: Inventory, old: int, new: int) -> None:
    """A direct ``inventory.quantity = n`` becomes a locked, ledgered adjustment of the difference."""
    attributes.set_committed_value(inventory, "quantity", old)  # the flush must not write it unlocked
    product = session.get(Product, inventory.product_id)
    assert product is not None
    stock.adjust_stock(
        session,
        product,
        new - old,
        MovementReason.ADJUSTMENT,
        note="direct quantity assignment",
        location=inventory.location.code,
    )


def after_flush(session: DbSession, flush_context: object) -> None:
    # ``session.new`` still lists what this flush inserted.
    actor = stock.actor_of(session)
    new_inventory = [obj for obj in session.new if isinstance(obj, Inventory) and obj.quantity]
    if new_inventory:
        stock.record_initial_stock(session, new_inventory, actor=actor)
    for obj in session.new:
        if isinstance(obj, Order):
            signals.order_created.send(signals.sender(), order=obj, actor=actor)
    search.refresh_terms(session)  # new products, and products whose name or SKU changed


def after_commit(session: DbSession) -> None:
    orders.forget_written(session, rolled_back=False)
    changes = stock.pop_changes(session)
    if not changes:
        return
    app = signals.sender()
    signals.stock_changed.send(app, changes=changes)
    for change in changes:  # once per product and change: only a product's last row has a level
        if change.is_low:
            signals.stock_low.send(app, change=change)


def after_soft_rollback(session: DbSession, previous_transaction: SessionTransaction) -> None:
    stock.discard_changes(session)
    if not previous_transaction.nested:  # a savepoint's rollback leaves the enclosing transaction's rows
        orders.forget_written(session, rolled_back=True)


_LISTENERS: dict[str, Callable[..., None]] = {
    "before_flush": before_flush,
    "after_flush": after_flush,
    "after_commit": after_commit,
    "after_soft_rollback": after_soft_rollback,
}


def init_app(app: Flask) -> None:
    """Install the hook on Flask-SQLAlchemy's session class (once per process)."""
    for name, listener in _LISTENERS.items():
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
