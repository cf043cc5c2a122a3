"""The feed's order, and who is told: events get their positions after their transactions commit.

An autoincrement id is no feed position: a transaction that drew a lower id can commit after one
that drew a higher id, and a reader that had paged past the higher one would never see it. So
events are written without a position, and ``sequence`` gives positions to the committed events
that have none yet, one process at a time (the ``feed`` row of ``worker_clock`` is the lock),
in the order it finds them. An event committed later gets a later position than every event
already given one: a reader paging with ``after`` sees every committed event exactly once.

In the same transaction, ``sequence`` fans each event out: one delivery per enabled webhook
endpoint that wants its type, and one e-mail delivery for the customer of an order event. So each
event is fanned out exactly once, to the endpoints that existed when it joined the feed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import DbSession
from ..models import utcnow
from .models import Event, EventDelivery, WebhookEndpoint, WorkerClock
from .types import EventType

FEED = "feed"
BATCH = 500  # events given positions per transaction
CUSTOMER_EMAILS = (EventType.ORDER_PLACED, EventType.ORDER_PAID, EventType.ORDER_CANCELLED)
MAX_LIMIT, DEFAULT_LIMIT = 100, 50


class UnknownEvent(LookupError):
    """A feed cursor that is not an event of the feed (never was, or purged)."""


def lock_clock(session: DbSession, name: str) -> WorkerClock | None:
    """The ``worker_clock`` row ``name``, locked, created if missing; None if another process holds it.

    PostgreSQL and MariaDB skip a locked row instead of waiting; SQLite's unit of work holds the
    write lock already, so nobody else can hold it.
    """
    locked = select(WorkerClock).where(WorkerClock.name == name).with_for_update(skip_locked=True)
    clock = session.scalar(locked)
    if clock is not None:
        return clock
    if session.scalar(select(WorkerClock.name).where(WorkerClock.name == name)) is not None:
        return None  # it exists: someone else holds it
    try:
        with session.begin_nested():
            session.add(WorkerClock(name=name, number=0))
    except IntegrityError:
        return None  # created by another process a moment ago
    return session.scalar(locked)


def sequence(session: DbSession, *, limit: int = BATCH) -> int:
    """Give the committed events without a position theirs, and fan them out; how many (0: none or busy)."""
    clock = lock_clock(session, FEED)
    if clock is None:
        return 0
    events = session.execute(
        select(Event.id, Event.type, Event.payload)
        .where(Event.position.is_(None))
        .order_by(Event.id)
        .limit(limit)
    ).all()
    if not events:
        return 0
    first = (clock.number or 0) + 1
    positions = {event.id: first + offset for offset, event in enumerate(events)}
    session.execute(
        update(Event)
        .where(Event.id.in_(positions))
        .values(position=case(positions, value=Event.id))
        .execution_options(synchronize_session=False)
    )
    clock.number = first + len(events) - 1
    clock.at = utcnow()
    _fan_out(session, events)
    return len(events)


def _customer_email(event: Row) -> str | None:
    if event.type not in CUSTOMER_EMAILS:
        return None
    return json.loads(event.payload)["order"]["customer"]["email"] or None


def _fan_out(session: DbSession, events: Sequence[Row]) -> None:
    """One delivery per (event, enabled endpoint that wants it), and the customer's e-mail."""
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))).all()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for event in events:
        for endpoint in endpoints:
            if endpoint.wants(event.type):
                rows.append({"event_id": event.id, "endpoint_id": endpoint.id})
        if email := _customer_email(event):
            rows.append({"event_id": event.id, "email": email})
    if rows:
        template = {"endpoint_id": None, "email": None, "status": "pending", "attempts": 0}
        session.execute(
            insert(EventDelivery),
            [template | row | {"next_attempt_at": now, "created_at": now} for row in rows],
        )


# -- reading the feed ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPage:
    events: list[Row]  # (id, type, created_at, payload), in feed order
    has_more: bool


def read(session: DbSession, *, after: str | None, event_type: str | None, limit: int) -> FeedPage:
    """Up to ``limit`` events after the event ``after`` (from the start: None), of ``event_type`` if given."""
    query = select(Event.id, Event.type, Event.created_at, Event.payload).where(Event.position.is_not(None))
    if after is not None:
        position = session.scalar(select(Event.position).where(Event.id == after))
        if position is None:
            raise UnknownEvent(after)
        query = query.where(Event.position > position)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    rows = session.execute(query.order_by(Event.position).limit(limit + 1)).all()
    return FeedPage(list(rows[:limit]), len(rows) > limit)
