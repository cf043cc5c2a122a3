"""The event types (version 1) and what each one's ``data`` holds (README, "Notifications and webhooks")."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"  # an order first takes stock: data {order}
    ORDER_PAID = "order.paid"  # an order becomes paid: data {order}
    ORDER_CANCELLED = "order.cancelled"  # a committed order is cancelled: data {order, reason, cancelled_by}
    STOCK_CHANGED = "stock.changed"  # one per ledger row
    STOCK_LOW = "stock.low"  # a change takes a product to its low-stock threshold or below, above 0
    STOCK_OUT = "stock.out"  # a change takes a product to 0


# ``ping`` is not an event of the shop: ``flask webhooks test`` and "Send test event" send it, unrecorded.
PING = "ping"
