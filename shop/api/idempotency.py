"""Idempotency keys: an order is created once per key, and a key is forgotten 24 hours after it.

- **Once.** ``create_once`` runs a unit of work that creates the order and stores the key with the
  response, in one transaction; a request that runs into the key (on the unique index, or refused
  after another request created the order) is answered from the stored row instead.

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

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from flask import current_app
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..database import commit_unit_of_work
from ..errors import InventoryError
from ..extensions import db
from ..models import utcnow
from .models import IdempotencyKey
from .problems import ApiError

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


class Stored(NamedTuple):
    """What an idempotency row holds, read while its transaction is open (nothing to reload later)."""

    request_hash: str
    status: int
    body: str
    number: str | None  # of the order in ``body``

    @classmethod
    def of(cls, record: IdempotencyKey) -> Stored:
        assert record.response_status is not None and record.response_body is not None
        number = json.loads(record.response_body).get("number")
        return cls(record.request_hash, record.response_status, record.response_body, number)


def fingerprint(method_and_path: str, data: Any) -> str:
    """The hash a key is stored with: the request line and the body compared as JSON, not as bytes."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method_and_path}\n{canonical}".encode()).hexdigest()


def find(owner: str, key: str) -> IdempotencyKey | None:
    """The key ``owner`` stored, if any (committed by this or another request)."""
    return db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.caller == owner, IdempotencyKey.key == key)
    )


def create_once(
    create: Callable[[], Stored], *, owner: str, key: str, request_hash: str
) -> tuple[Stored, bool]:
    """What ``create`` stored under ``key`` (committed), or what an earlier request stored: (it, replayed).

    ``create`` is a committed unit of work that creates the order and ``store``s the key. A refusal of
    the shop (``InventoryError``) or the unique index (``IntegrityError``) is answered from the row an
    earlier request of ``owner`` committed; without one it propagates. A key older than
    ``KEY_LIFETIME`` is forgotten and ``create`` tried once more. The same key with another body is a
    409 ``idempotency_key_reused``.
    """
    for attempt in (1, 2):
        try:
            stored = create()
        except (InventoryError, IntegrityError):
            # The session was rolled back: this reads what an earlier request of this caller committed.
            record = find(owner, key)
            if record is None:
                raise
            if attempt == 1 and is_expired(record):
                forget(record.id)  # older than 24 hours: as if never used; try again
                continue
            stored = Stored.of(record)
            if stored.request_hash != request_hash:
                raise ApiError(
                    409,
                    "This Idempotency-Key was already used with a different request body; use a new "
                    "key for a new order.",
                    code="idempotency_key_reused",
                ) from None
            return stored, True
        purge_now_and_then()  # a new key was stored: now and then, forget old ones
        return stored, False
    raise AssertionError("unreachable: the second attempt returns or raises")


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
