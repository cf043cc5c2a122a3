"""The stock changes of the current transaction, kept on the session until it ends.

The session hook (``shop.events``) reports them after commit (``signals.stock_changed``) and
drops them on rollback: nothing is announced that did not happen.
"""

from __future__ import annotations

from ..extensions import DbSession
from .rules import StockChange

_KEY = "shop.stock_changes"


def record(session: DbSession, changes: list[StockChange]) -> None:
    session.info.setdefault(_KEY, []).extend(changes)


def changes_of_transaction(session: DbSession) -> list[StockChange]:
    """The changes of the transaction in progress, kept for ``pop_changes`` (the outbox records them before commit)."""
    return list(session.info.get(_KEY, []))


def pop_changes(session: DbSession) -> list[StockChange]:
    """The changes of the transaction that just committed, forgotten as they are returned."""
    return session.info.pop(_KEY, [])


def discard_changes(session: DbSession) -> None:
    """Forget the changes of a transaction that rolled back."""
    session.info.pop(_KEY, None)
