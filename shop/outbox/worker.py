"""``flask worker``: the one process beside the web server. It delivers events, releases expired holds,
sends the low-stock digest, purges old events and forgets the clients whose holds are over.

Each turn (``Worker.turn``) does what is due: give new events their feed positions and fan them
out; claim due deliveries, send them one by one and write the outcomes (a few per transaction);
tell staff of endpoints that were disabled; and, less often, release expired holds, send the
digest, purge, and note that a worker was seen (``/readyz``). ``--once`` turns until nothing is
due and exits. On SIGTERM or SIGINT the delivery in hand is finished, the outcomes written, the
rest given back, and the worker exits.

Several workers at once are safe: deliveries are claimed with ``SKIP LOCKED`` (PostgreSQL,
MariaDB) and a lease; SQLite's write lock makes them take turns.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from .. import metrics
from ..database import commit_unit_of_work
from ..extensions import db
from ..hoarding import forget_idle_clients
from ..holds import SYSTEM_ACTOR, release_expired_holds
from ..models import utcnow
from . import delivery, digest, feed, mail
from .models import Event, EventDelivery, WebhookEndpoint

logger = logging.getLogger("shop.worker")

SEEN = "worker"  # the worker_clock row of the last time a worker was seen
SEEN_EVERY = 15.0  # seconds between two notes, at most (SHOP_WORKER_SEEN_SECONDS is a window of several)
DELIVERY_BATCH = 50
SETTLE_EVERY = 0.1  # seconds: how long the outcomes of attempts made wait to be written, at most
IDLE_SLEEP = 0.2  # seconds between turns that found nothing to do


def _every(seconds: float) -> Callable[[float], bool]:
    """A gate that opens at most every ``seconds`` (and at the first call)."""
    last = [float("-inf")]

    def due(now: float) -> bool:
        if now - last[0] < seconds:
            return False
        last[0] = now
        return True

    return due


def seen_interval(window: float) -> float:
    """How often a worker writes down that it is alive: every 15 s, or often enough for a shorter window."""
    return min(SEEN_EVERY, window / 4)


def note_seen(now: datetime | None = None) -> None:
    """Write down that a worker is alive now (``/readyz`` and ``flask doctor`` read it).

    Workers started together all note it at once: one that finds another writing the note (or
    creating its row) leaves it to that one, instead of failing its turn on the duplicate row.
    """

    def work() -> None:
        clock = feed.lock_clock(db.session, SEEN)
        if clock is not None:
            clock.at = now or utcnow()

    commit_unit_of_work(work, actor=SYSTEM_ACTOR)


def purge(now: datetime | None = None) -> int:
    """Delete the events older than ``SHOP_EVENTS_RETENTION_DAYS``, with their deliveries; how many."""
    from flask import current_app

    cutoff = (now or utcnow()) - timedelta(days=current_app.config["SHOP_EVENTS_RETENTION_DAYS"])

    def work() -> int:
        old = select(Event.id).where(Event.created_at < cutoff)
        db.session.execute(delete(EventDelivery).where(EventDelivery.event_id.in_(old)))
        return db.session.execute(delete(Event).where(Event.created_at < cutoff)).rowcount  # type: ignore[attr-defined]

    return commit_unit_of_work(work, actor=SYSTEM_ACTOR)


def notify_disabled_endpoints() -> int:
    """E-mail staff about each endpoint disabled for failing (once each); how many."""
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.disabled_reason).where(
            WebhookEndpoint.notify_staff.is_(True)
        )
    ).all()
    db.session.rollback()
    for endpoint_id, url, reason in endpoints:
        recipients = mail.staff_recipients()
        db.session.rollback()
        if recipients:
            message = mail.message(
                "endpoint_disabled", recipients, "A webhook endpoint was disabled", url=url, reason=reason
            )
            mail.send(message)
        told = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(notify_staff=False)
        commit_unit_of_work(partial(db.session.execute, told), actor=SYSTEM_ACTOR)
    return len(endpoints)


class Worker:
    """One worker process's loop. ``stop()`` (or SIGTERM) ends it after the delivery in hand."""

    def __init__(self, app: Flask, *, batch: int = DELIVERY_BATCH, idle_sleep: float = IDLE_SLEEP):
        self.app = app
        self.batch = batch
        self.idle_sleep = idle_sleep
        self.stopping = False
        self.delivered = self.failed = 0
        self._seen = _every(seen_interval(app.config["SHOP_WORKER_SEEN_SECONDS"]))
        self._sweep, self._digest, self._purge = _every(5), _every(30), _every(3600)

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self, *, once: bool = False) -> None:
        """Turn until stopped (or, ``once``, until nothing is due)."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self.stopping:
                busy = self._safe_turn()
                if once and not busy:
                    break
                if not busy:
                    time.sleep(self.idle_sleep)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _safe_turn(self) -> bool:
        try:
            with self.app.app_context():
                return self.turn()
        except (DBAPIError, OSError) as exc:  # the database or the mail server is away: try again soon
            logger.warning("worker turn failed: %s: %s", type(exc).__name__, exc)
            time.sleep(1)
            return False

    def turn(self) -> bool:
        """Do what is due now; True if it did something, so more may have come meanwhile.

        Only a turn that found nothing is followed by ``idle_sleep``: events committed while a
        batch went out are fanned out and sent at once, not after a pause.
        """
        now = time.monotonic()
        if self._seen(now):
            note_seen()
        busy = commit_unit_of_work(partial(feed.sequence, db.session), actor=SYSTEM_ACTOR) > 0
        busy |= self.deliver() > 0
        notify_disabled_endpoints()
        if self._sweep(now):
            release_expired_holds()
        if self._digest(now):
            digest.send_digest()
        if self._purge(now):
            purge()
            forget_idle_clients()
        return busy

    def deliver(self) -> int:
        """Claim a batch of due deliveries and attempt each; how many were claimed.

        Outcomes are written a few at a time, in one transaction every ``SETTLE_EVERY`` seconds (and
        when the batch ends or the worker stops), each still only if its lease is unchanged: a
        transaction per delivery cost as much as the delivery. A worker that dies before writing
        them leaves those deliveries due again when their lease ends, as one dying mid-delivery does.
        """
        claimed = commit_unit_of_work(
            partial(delivery.claim, db.session, limit=self.batch), actor=SYSTEM_ACTOR
        )
        attempted: list[tuple[delivery.Claimed, delivery.Outcome]] = []
        since = time.monotonic()
        try:
            with mail.one_connection():
                for index, item in enumerate(claimed):
                    if self.stopping:
                        commit_unit_of_work(
                            partial(delivery.give_back, db.session, claimed[index:]), actor=SYSTEM_ACTOR
                        )
                        break
                    if time.monotonic() - since >= SETTLE_EVERY:
                        self._settle(attempted)
                        since = time.monotonic()
                    attempted.append((item, delivery.attempt(item)))
        finally:
            self._settle(attempted)
        return len(claimed)

    def _settle(self, attempted: list[tuple[delivery.Claimed, delivery.Outcome]]) -> None:
        """Write the outcomes of ``attempted`` in one transaction, log them, and empty the list."""
        batch = attempted[:]
        attempted.clear()
        if not batch:
            return
        settled = commit_unit_of_work(
            lambda: [delivery.settle(db.session, item, outcome) for item, outcome in batch],
            actor=SYSTEM_ACTOR,
        )
        for (item, outcome), became in zip(batch, settled, strict=True):
            metrics.delivery_settled(became)
            self.delivered += outcome.delivered
            self.failed += not outcome.delivered
            level = logging.INFO if outcome.delivered else logging.WARNING
            logger.log(
                level,
                "delivery %s event=%s target=%s outcome=%s status=%s",
                item.id,
                item.event_id,
                item.url or item.email,
                "delivered" if outcome.delivered else "failed",
                outcome.status,
            )
