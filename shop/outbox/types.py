"""The event types (``shop.models.EventType``, version 1) and ``ping``, which is not one of them."""

from __future__ import annotations

from ..models import EventType

# ``flask webhooks test`` and "Send test event" send a ``ping``, signed like any event and never recorded.
PING = "ping"

__all__ = ["PING", "EventType"]
