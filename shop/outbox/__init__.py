"""Events that leave the shop: the outbox, its feed, webhooks, e-mail and the worker that delivers them.

- ``recorder``: events written in the transaction of the change they report (``EventRecorder``);
- ``feed``: their positions in the feed, given after commit, and who is told (fan-out);
- ``delivery``: claiming, sending and retrying deliveries; ``webhooks``: endpoints, signing, no SSRF;
- ``mail``: Flask-Mail, or ``.eml`` files; ``digest``: the low-stock digest;
- ``worker``: ``flask worker``; ``cli``: ``flask worker``, ``flask events``, ``flask webhooks``.

See the README, "Notifications and webhooks".
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import event

from ..extensions import db
from ..models import Order
from . import delivery, mail, recorder, webhooks
from .models import DeliveryStatus, Event, EventDelivery, WebhookEndpoint, WorkerClock
from .types import PING, EventType

__all__ = [
    "DeliveryStatus",
    "Event",
    "EventDelivery",
    "EventType",
    "PING",
    "WebhookEndpoint",
    "WorkerClock",
    "delivery",
    "init_app",
    "webhooks",
]


def _discard(session, previous_transaction) -> None:
    if not previous_transaction.nested:
        recorder.discard(session)


def init_app(app: Flask, *, order_json: Callable[[Order], str]) -> None:
    """Connect the recorder beside the inventory observer; set up e-mail; add the commands.

    ``order_json`` is an order as the order events carry it (``create_app`` passes the API's).
    """
    from .cli import events_cli, webhooks_cli, worker_command

    mail.init_app(app)
    event_recorder = recorder.EventRecorder(order_json)
    event_recorder.connect(app)
    app.extensions[recorder.RECORDER] = event_recorder  # blinker holds receivers weakly
    for name, listener in (("before_commit", recorder.record), ("after_soft_rollback", _discard)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
    app.cli.add_command(worker_command)
    app.cli.add_command(events_cli)
    app.cli.add_command(webhooks_cli)
