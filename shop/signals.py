"""The shop's events. Senders are always the Flask app (``current_app._get_current_object()``).

Sent inside the ``db.session`` transaction, so a receiver that raises rolls the whole unit of
work back. ``shop.observer`` receives them:

- ``order_created(app, order, actor)``: a new order's rows are written (ids known) and its lines
  checked. Sent by ``shop.orders.place_order`` after its INSERTs, and by the session hook
  (``shop.events``) after the flush of an order created any other way through the ORM.
- ``order_status_changed(app, order, old_status, new_status, actor, reason)``: an allowed change
  of an existing order's status, judged under its row lock; ``reason`` is the ledger reason for
  stock it returns (None: ``order_cancelled``). Sent by ``shop.orders.change_status`` (and
  ``move_locked_order``) before it writes the row, and by the session hook in the flush of any
  other ORM write of ``Order.status``.

Sent after the transaction commits, never while stock rows are locked (``shop.audit``):

- ``stock_changed(app, changes)``: a list of ``shop.stock.StockChange``, one per ledger row.
- ``stock_low(app, change)``: a change left a product at or below its low-stock threshold.
"""

from blinker import Namespace
from flask import Flask, current_app

_signals = Namespace()

order_created = _signals.signal("order-created")
order_status_changed = _signals.signal("order-status-changed")

stock_changed = _signals.signal("stock-changed")
stock_low = _signals.signal("stock-low")


def sender() -> Flask:
    """The app every signal is sent by (the real object: receivers connect with ``sender=app``)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]
