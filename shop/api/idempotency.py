"""Idempotency keys are forgotten 24 hours after the order they created.

- **Ignored at once.** A key older than ``KEY_LIFETIME`` is never replayed: a request that runs into
  one on the unique index (caller, key) deletes it (``forget``) and is tried again as a new key.
- **Purged** in two ways, both through ``purge_expired``: opportunistically, by the process that
  has just stored a new key, at most once per ``PURGE_INTERVAL`` and at most ``PURGE_BATCH`` rows
  (after the order's commit, in a transaction of its own, never while stock rows are locked); and
  by ``flask api purge-keys`` (cron), which deletes every expired key in batches.

Stored responses hold customers' names and e-mail addresses: they are kept no longer than a client
needs to retry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

from flask import current_app
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import DBAPIError

from ..database import commit_unit_of_work
from ..extensions import db
from ..models import utcnow
from .models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
PURGE_INTERVAL = timedelta(minutes=10)
PURGE_BATCH = 1000
PURGE_ACTOR = "system"
_LAST_PURGE = "shop.api.keys_purged_at"

logger = logging.getLogger("shop.api")


def cutoff(now: datetime | None = None) -> datetime:
    """Keys created before this moment are forgotten."""
    return (now or utcnow()) - KEY_LIFETIME


def is_expired(record: IdempotencyKey) -> bool:
    return record.created_at < cutoff()


_INSERT_KEY = insert(cast(Table, IdempotencyKey.__table__))


def store(*, caller: str, key: str, request_hash: str, order_id: int, status: int, body: str) -> None:
    """INSERT a new key with the response it answered, now, in the caller's transaction.

    A Core INSERT (no ORM flush at commit). A request that reuses the key fails here on the unique
    index (caller, key), after waiting for the transaction that holds it if it is still open.
    """
    db.session.execute(
        _INSERT_KEY,
        {
            "caller": caller,
            "key": key,
            "request_hash": request_hash,
            "order_id": order_id,
            "response_status": status,
            "response_body": body,
        },
    )


def forget(record_id: int) -> None:
    """Delete one expired key (committed), so that its caller may use it again for a new order."""
    commit_unit_of_work(
        lambda: db.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.id == record_id, IdempotencyKey.created_at < cutoff())
        ),
        actor=PURGE_ACTOR,
    )


def purge_expired(limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys, oldest first, in one transaction; how many went."""

    def work() -> int:
        ids = db.session.scalars(
            select(IdempotencyKey.id)
            .where(IdempotencyKey.created_at < cutoff())
            .order_by(IdempotencyKey.created_at)
            .limit(limit)
        ).all()
        if ids:
            db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
        return len(ids)

    return commit_unit_of_work(work, actor=PURGE_ACTOR)


def purge_now_and_then() -> None:
    """After a new key was stored: one batch of expired keys, if this process has not purged lately.

    Housekeeping must never fail the request that triggered it: an error is logged, not raised.
    """
    extensions = current_app.extensions
    now = utcnow()
    last = extensions.get(_LAST_PURGE)
    if last is not None and now - last < PURGE_INTERVAL:
        return
    extensions[_LAST_PURGE] = now
    try:
        purged = purge_expired()
    except DBAPIError as exc:
        logger.warning("purging expired idempotency keys failed: %s", type(exc.orig).__name__)
        return
    if purged:
        logger.info("purged %d expired idempotency key(s)", purged)
