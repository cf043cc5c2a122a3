"""The shop's events. Senders are always the Flask app (``current_app._get_current_object()``).

Fired inside the flush of the ``db.session`` transaction (see ``shop.events``), so a
receiver that raises rolls the whole unit of work back:

- ``order_created(app, order)``: an ``Order`` is being inserted.
- ``order_status_changed(app, order, old_status, new_status)``: its status is being updated.
- ``order_lines_changed(app, order)``: lines of an existing order are added, changed or removed.
- ``order_deleted(app, order)``: an order is being deleted.
- ``inventory_created(app, inventory)``: an ``Inventory`` row is being inserted.
- ``inventory_quantity_assigned(app, inventory, old_quantity, new_quantity)``: ORM code assigned
  ``Inventory.quantity`` directly.

Fired after the transaction commits, never while stock rows are locked:

- ``stock_changed(app, changes)``: a list of ``shop.stock.StockChange``, one per ledger row.
- ``stock_low(app, change)``: a change left a product at or below its low-stock threshold.
"""

from blinker import Namespace

_signals = Namespace()

order_created = _signals.signal("order-created")
order_status_changed = _signals.signal("order-status-changed")
order_lines_changed = _signals.signal("order-lines-changed")
order_deleted = _signals.signal("order-deleted")
inventory_created = _signals.signal("inventory-created")
inventory_quantity_assigned = _signals.signal("inventory-quantity-assigned")

stock_changed = _signals.signal("stock-changed")
stock_low = _signals.signal("stock-low")
