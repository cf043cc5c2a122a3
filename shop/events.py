"""The session hook: turns ORM writes of orders and inventory into ``shop.signals``.

Like Laravel model events, this fires for every ORM creation or status change of an
``Order`` whichever code path makes it, so no caller has to remember to take stock.
"""

from __future__ import annotations

from itertools import chain

from flask import Flask, current_app
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from . import signals, stock
from .extensions import db
from .models import Inventory, Order, OrderItem


def _changed(obj, attr: str) -> tuple[object, object] | None:
    """(old, new) if ``attr`` of ``obj`` holds a new, different value."""
    history = inspect(obj).attrs[attr].history
    if history.added and history.deleted and history.added[0] != history.deleted[0]:
        return history.deleted[0], history.added[0]
    return None


def _order_of(session: Session, item: OrderItem) -> Order | None:
    return item.order or (session.get(Order, item.order_id) if item.order_id else None)


def before_flush(session: Session, flush_context, instances) -> None:
    app = current_app._get_current_object()
    stock.reset_after_flush(session)  # nothing queued by an earlier, failed flush survives
    new, deleted = list(session.new), list(session.deleted)
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]

    # Lines first: they are judged by whether the order had taken stock before this flush.
    edited = {}
    for obj in chain(new, dirty, deleted):
        order = _order_of(session, obj) if isinstance(obj, OrderItem) else None
        if isinstance(obj, Order) and obj in dirty and inspect(obj).attrs["items"].history.has_changes():
            order = obj
        if order is not None and order not in session.new and order not in session.deleted:
            edited[id(order)] = order
    for order in edited.values():
        signals.order_lines_changed.send(app, order=order)

    for obj in new:
        if isinstance(obj, Order):
            signals.order_created.send(app, order=obj)
        elif isinstance(obj, Inventory):
            signals.inventory_created.send(app, inventory=obj)
    for obj in dirty:
        if isinstance(obj, Order) and (change := _changed(obj, "status")):
            signals.order_status_changed.send(app, order=obj, old_status=change[0], new_status=change[1])
        elif isinstance(obj, Inventory) and (change := _changed(obj, "quantity")):
            signals.inventory_quantity_assigned.send(
                app, inventory=obj, old_quantity=change[0], new_quantity=change[1]
            )
    for obj in deleted:
        if isinstance(obj, Order):
            signals.order_deleted.send(app, order=obj)


def after_flush(session: Session, flush_context) -> None:
    stock.run_after_flush(session)


def after_commit(session: Session) -> None:
    changes = stock.pop_changes(session)
    if not changes:
        return
    app = current_app._get_current_object()
    signals.stock_changed.send(app, changes=changes)
    for change in changes:
        if change.is_low:
            signals.stock_low.send(app, change=change)


def after_rollback(session: Session) -> None:
    stock.discard_pending(session)


_LISTENERS = {
    "before_flush": before_flush,
    "after_flush": after_flush,
    "after_commit": after_commit,
    "after_soft_rollback": lambda session, previous_transaction: after_rollback(session),
}


def init_app(app: Flask) -> None:
    """Install the hook on Flask-SQLAlchemy's session class (once per process)."""
    for name, listener in _LISTENERS.items():
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
