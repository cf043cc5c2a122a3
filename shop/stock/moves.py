"""How a change of stock is written: row locks, guarded update and ledger rows, two ways side by side.

``change_stock`` moves the stock of several products at once, one ledger row each:

- ``step_by_step`` (any database): lock the rows in product-id order, check them, one guarded
  ``UPDATE``, one ``executemany`` of ledger rows;
- ``in_one_statement`` (PostgreSQL): the same lock, guard, update and ledger rows in one
  statement (``statements.PG_CHANGE_STOCK``), so row locks are held for one statement.

Both take a ``Movement`` (why, by whom, for which order) and build their ledger rows and their
``StockChange`` reports from it; ``tests/test_stock_moves.py`` checks that both leave identical
ledgers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, inspect, update
from sqlalchemy.orm import attributes

from ..errors import InsufficientStock, Problem
from ..extensions import DbSession
from ..models import Inventory, utcnow
from . import journal, statements
from .rules import StockChange, StockRow

Check = Callable[[Mapping[int, StockRow]], None]  # raises the caller's error, listing every problem


@dataclass(frozen=True)
class Movement:
    """Why and by whom stock moves: what every ledger row of one change shares."""

    reason: str
    actor: str
    order_id: int | None = None
    order_number: str | None = None
    note: str | None = None
    at: datetime = field(default_factory=utcnow)

    def ledger_row(self, product_id: int, delta: int, quantity_after: int) -> dict:
        """The ``inventory_movements`` row of one product (the PostgreSQL statement writes the same)."""
        return {
            "product_id": product_id,
            "order_id": self.order_id,
            "delta": delta,
            "quantity_after": quantity_after,
            "reason": self.reason,
            "actor": self.actor,
            "note": self.note,
            "created_at": self.at,
        }

    def report(self, fact: Fact, ledger_id: int) -> StockChange:
        """The after-commit report of one ledger row."""
        return StockChange(
            fact.product_id,
            fact.sku,
            fact.delta,
            fact.quantity_after,
            self.reason,
            self.actor,
            self.order_number,
            self.note,
            fact.low_stock_threshold,
            ledger_id,
        )


class Fact(NamedTuple):
    """What one product's ledger row says besides the ``Movement``: the change and the stock after it."""

    product_id: int
    sku: str
    low_stock_threshold: int
    delta: int
    quantity_after: int


# -- reads and locks ---------------------------------------------------------------------


def read_rows(session: DbSession, ids: Iterable[int]) -> dict[int, StockRow]:
    """Products with their stock, without locks (for reporting)."""
    result = session.execute(statements.READ_ROWS, {"ids": list(ids)})
    return {
        pid: StockRow(sku, status, threshold, quantity) for pid, sku, status, threshold, quantity in result
    }


def lock_rows(session: DbSession, ids: Iterable[int]) -> dict[int, StockRow]:
    """Lock the inventory rows of ``ids`` in one statement, in product-id order.

    Products without an inventory row are looked up without a lock.
    """
    ids = sorted(set(ids))
    result = session.execute(statements.LOCK_ROWS, {"ids": ids})
    rows = {
        pid: StockRow(sku, status, threshold, quantity) for pid, sku, status, threshold, quantity in result
    }
    if len(rows) < len(ids):
        rows.update(read_rows(session, set(ids) - rows.keys()))
    return rows


# -- writes ------------------------------------------------------------------------------


def _stock_changed() -> InsufficientStock:
    return InsufficientStock([Problem("insufficient_stock", "Stock changed while it was being taken.")])


def _remember(session: DbSession, changes: list[StockChange]) -> list[StockChange]:
    """Keep loaded Inventory objects true without reloading them; journal the changes for after commit."""
    for c in changes:
        key = inspect(Inventory).identity_key_from_primary_key((c.product_id,))
        inventory = session.identity_map.get(key)
        if inventory is not None:
            attributes.set_committed_value(inventory, "quantity", c.quantity_after)
    journal.record(session, changes)
    return changes


def write_locked(
    session: DbSession, deltas: Mapping[int, int], rows: Mapping[int, StockRow], movement: Movement
) -> list[StockChange]:
    """Guarded update of rows this transaction has locked, plus one ledger row each: two statements."""
    ids = sorted(deltas)
    inventory = statements.INVENTORY
    delta = case(deltas, value=inventory.c.product_id)
    result = session.execute(
        update(inventory)
        .where(inventory.c.product_id.in_(ids), inventory.c.quantity + delta >= 0)
        .values(quantity=inventory.c.quantity + delta, updated_at=movement.at)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]  # only if a row was not locked
        raise _stock_changed()
    facts = []
    for pid in ids:
        sku, _, threshold, quantity = rows[pid]
        assert quantity is not None, "write_locked needs existing inventory rows"
        facts.append(Fact(pid, sku, threshold, deltas[pid], quantity + deltas[pid]))
    return write_ledger(session, facts, movement)


def write_ledger(session: DbSession, facts: list[Fact], movement: Movement) -> list[StockChange]:
    """One ledger row per fact, in one statement that returns their ids (one product per row)."""
    rows = [movement.ledger_row(f.product_id, f.delta, f.quantity_after) for f in facts]
    ledger_ids = dict((pid, lid) for lid, pid in session.execute(statements.INSERT_MOVEMENTS, rows))
    return _remember(session, [movement.report(f, ledger_ids[f.product_id]) for f in facts])


def step_by_step(
    session: DbSession, deltas: Mapping[int, int], movement: Movement, check: Check, *, only_active: bool
) -> list[StockChange]:
    """Any database: lock the rows in product-id order, ``check`` them, then ``write_locked``.

    ``check`` refuses inactive products where that matters, so ``only_active`` needs no SQL here.
    """
    rows = lock_rows(session, deltas)
    check(rows)
    return write_locked(session, deltas, rows, movement)


def in_one_statement(
    session: DbSession, deltas: Mapping[int, int], movement: Movement, check: Check, *, only_active: bool
) -> list[StockChange]:
    """PostgreSQL: lock, guarded update and ledger in one statement (``statements.PG_CHANGE_STOCK``).

    If a product is missing from the answer, ``check`` runs on the rows as they were before the
    statement (still locked, with this statement's own changes taken back out), so the error lists
    every problem exactly as ``step_by_step`` would.
    """
    ids = sorted(deltas)
    template = movement.ledger_row(0, 0, 0)
    params = {key: template[key] for key in ("order_id", "reason", "actor", "note")}
    params.update(ids=ids, deltas=[deltas[pid] for pid in ids], only_active=only_active, now=movement.at)
    changed = {row.product_id: row for row in session.execute(statements.PG_CHANGE_STOCK, params)}
    if len(changed) < len(ids):
        rows = lock_rows(session, ids)  # locked already: this reads them as they stand
        for pid in changed:
            rows[pid] = rows[pid]._replace(quantity=rows[pid].quantity - deltas[pid])  # type: ignore[operator]
        check(rows)
        raise _stock_changed()  # the guard failed, yet nothing looks wrong now: never commit it
    return _remember(
        session,
        [
            movement.report(
                Fact(pid, row.sku, row.low_stock_threshold, deltas[pid], row.quantity), row.ledger_id
            )
            for pid, row in sorted(changed.items())
        ],
    )


def change_stock(
    session: DbSession, deltas: Mapping[int, int], movement: Movement, check: Check, *, only_active: bool
) -> list[StockChange]:
    """Move stock by ``deltas`` (product id → units) with ledger rows, the fastest way the database allows.

    MariaDB and SQLite have no data-modifying CTEs, so only PostgreSQL takes the one-statement path.
    """
    write = in_one_statement if session.connection().dialect.name == "postgresql" else step_by_step
    return write(session, deltas, movement, check, only_active=only_active)
