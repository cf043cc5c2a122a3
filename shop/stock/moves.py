"""How a change of stock is written: row locks, guarded update, ledger rows and allocations, two ways side by side.

Stock lives in rows keyed by (product id, location id). ``change_stock`` moves several such rows at
once, one ledger row each; ``take`` takes an order's stock, deciding under the locks where each
line's units come from (``shop.stock.allocation``). Each has two ways:

- step by step (any database): lock every row of the products in (product, location) order, check
  them, allocate, one guarded ``UPDATE``, one ``executemany`` of ledger rows (and one of allocations);
- in one statement (PostgreSQL): the same lock, guard, update, ledger rows and allocations in one
  statement (``statements.PG_TAKE_STOCK``, ``statements.PG_CHANGE_STOCK``), so row locks are held for
  one statement. An order no single location can serve takes a second one, after allocating.

Both take a ``Movement`` (why, by whom, for which order) and build their ledger rows and their
``StockChange`` reports from it; ``tests/test_stock_moves.py`` checks that both leave identical
ledgers, allocations and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, inspect, update
from sqlalchemy.orm import attributes

from ..errors import InsufficientStock, Problem
from ..extensions import DbSession
from ..models import Inventory, MovementReason, Product, utcnow
from . import journal, statements
from .allocation import Allocation, Line, Place, allocate, deltas_of
from .rules import StockChange, StockLevel, StockRow

Key = tuple[int, int]  # (product id, location id)


class Row(NamedTuple):
    """One inventory row as locked or read, with what the rules need of its product and its location."""

    product_id: int
    location_id: int
    quantity: int
    sku: str
    status: str
    low_stock_threshold: int
    location: str  # the location's code
    priority: int
    serves: bool  # the location is active and fulfils orders: the row counts in ``on_hand``


Rows = dict[Key, Row]
Check = Callable[[Rows], None]  # raises the caller's error, listing every problem
ProductCheck = Callable[[Mapping[int, StockRow]], None]


@dataclass(frozen=True)
class Movement:
    """Why and by whom stock moves: what every ledger row of one change shares."""

    reason: str
    actor: str
    order_id: int | None = None
    order_number: str | None = None
    note: str | None = None
    transfer_id: str | None = None
    at: datetime = field(default_factory=utcnow)

    def reason_of(self, delta: int) -> str:
        """The row's reason: a transfer's row out of its source is ``transfer_out``, into its target ``transfer_in``."""
        if self.transfer_id is None:
            return self.reason
        return MovementReason.TRANSFER_OUT if delta < 0 else MovementReason.TRANSFER_IN

    def ledger_row(self, key: Key, delta: int, quantity_after: int) -> dict:
        """The ``inventory_movements`` row of one (product, location) (the PostgreSQL statements write the same)."""
        return {
            "product_id": key[0],
            "location_id": key[1],
            "order_id": self.order_id,
            "delta": delta,
            "quantity_after": quantity_after,
            "reason": self.reason_of(delta),
            "actor": self.actor,
            "note": self.note,
            "transfer_id": self.transfer_id,
            "created_at": self.at,
        }


# -- reads and locks ---------------------------------------------------------------------


def _row(values) -> Row:
    pid, lid, quantity, sku, status, threshold, code, priority, serves = values[:9]
    return Row(pid, lid, quantity, sku, status, threshold, code, priority, bool(serves))


def _rows(result: Iterable) -> Rows:
    return {(row.product_id, row.location_id): row for row in map(_row, result)}


def read_located(session: DbSession, ids: Iterable[int]) -> Rows:
    """Every inventory row of the products ``ids``, without locks."""
    return _rows(session.execute(statements.LOCATED_ROWS, {"ids": sorted(set(ids))}))


def lock_rows(session: DbSession, ids: Iterable[int]) -> Rows:
    """Lock every inventory row of the products ``ids``, at every location, in one statement, in
    (product, location) order: what every change of their stock does first."""
    return _rows(session.execute(statements.LOCK_ROWS, {"ids": sorted(set(ids))}))


def read_rows(session: DbSession, ids: Iterable[int]) -> dict[int, StockRow]:
    """Products with their ``on_hand``, without locks (for reporting)."""
    result = session.execute(statements.READ_ROWS, {"ids": list(ids)})
    return {pid: StockRow(sku, status, threshold, on_hand) for pid, sku, status, threshold, on_hand in result}


def on_hand_of(rows: Rows) -> dict[int, int]:
    """Each product's ``on_hand`` as ``rows`` say (products with no row at a serving location left out)."""
    on_hand: dict[int, int] = {}
    for row in rows.values():
        if row.serves:
            on_hand[row.product_id] = on_hand.get(row.product_id, 0) + row.quantity
    return on_hand


def product_rows(session: DbSession, rows: Rows, ids: Collection[int]) -> dict[int, StockRow]:
    """What the stock rules judge of each product, from its locked rows (products without one: read)."""
    on_hand = on_hand_of(rows)
    found = {
        row.product_id: StockRow(row.sku, row.status, row.low_stock_threshold, on_hand.get(row.product_id))
        for row in rows.values()
    }
    missing = set(ids) - found.keys()
    return found | (read_rows(session, missing) if missing else {})


def serving(rows: Rows) -> tuple[list[Place], dict[Key, int]]:
    """The places orders may take stock from, and what each has, as ``rows`` say."""
    places = {
        row.location_id: Place(row.location_id, row.location, row.priority)
        for row in rows.values()
        if row.serves
    }
    stock = {key: row.quantity for key, row in rows.items() if row.serves}
    return list(places.values()), stock


# -- reports -------------------------------------------------------------------------------


def reports(
    movement: Movement, rows: Rows, deltas: Mapping[Key, int], ledger_ids: Mapping[Key, int]
) -> list[StockChange]:
    """The after-commit reports of one change, in (product, location) order; ``rows`` as before it.

    Each product's last report carries its level: ``on_hand`` before and after the whole change.
    """
    keys = sorted(deltas)
    before = on_hand_of(rows)
    moved: dict[int, int] = {}
    for key in keys:
        if rows[key].serves:
            moved[key[0]] = moved.get(key[0], 0) + deltas[key]
    changes = []
    for index, key in enumerate(keys):
        row, delta = rows[key], deltas[key]
        last = index + 1 == len(keys) or keys[index + 1][0] != key[0]
        was = before.get(key[0], 0)
        changes.append(
            StockChange(
                key[0],
                row.sku,
                row.location,
                delta,
                row.quantity + delta,
                movement.reason_of(delta),
                movement.actor,
                movement.order_number,
                movement.note,
                row.low_stock_threshold,
                ledger_ids[key],
                StockLevel(was, was + moved.get(key[0], 0)) if last else None,
            )
        )
    return changes


def _remember(
    session: DbSession, rows: Rows, deltas: Mapping[Key, int], changes: list[StockChange]
) -> list[StockChange]:
    """Keep loaded Inventory objects and ``on_hand`` figures true without reloading them; journal the changes."""
    for key, delta in deltas.items():
        inventory = session.identity_map.get(inspect(Inventory).identity_key_from_primary_key(key))
        if inventory is not None:
            attributes.set_committed_value(inventory, "quantity", rows[key].quantity + delta)
    before = on_hand_of(rows)
    for change in changes:
        product = session.identity_map.get(
            inspect(Product).identity_key_from_primary_key((change.product_id,))
        )
        if change.level is not None and product is not None and "on_hand" not in inspect(product).unloaded:
            on_hand = change.level.after if change.product_id in before else None
            attributes.set_committed_value(product, "on_hand", on_hand)
    journal.record(session, changes)
    return changes


# -- writes ------------------------------------------------------------------------------


def _stock_changed() -> InsufficientStock:
    return InsufficientStock([Problem("insufficient_stock", "Stock changed while it was being taken.")])


def write_allocations(session: DbSession, allocations: Sequence[Allocation]) -> None:
    """The order lines' allocations, in one statement."""
    if allocations:
        rows = [
            {"order_item_id": a.item_id, "location_id": a.location_id, "quantity": a.quantity}
            for a in allocations
        ]
        session.execute(statements.INSERT_ALLOCATIONS, rows)


def write_ledger(
    session: DbSession, rows: Rows, deltas: Mapping[Key, int], movement: Movement
) -> list[StockChange]:
    """One ledger row per changed (product, location), in one statement that returns their ids; ``rows`` as before."""
    keys = sorted(deltas)
    values = [movement.ledger_row(key, deltas[key], rows[key].quantity + deltas[key]) for key in keys]
    ledger_ids = {
        (pid, lid): ledger_id for ledger_id, pid, lid in session.execute(statements.INSERT_MOVEMENTS, values)
    }
    return _remember(session, rows, deltas, reports(movement, rows, deltas, ledger_ids))


def write_locked(
    session: DbSession,
    deltas: Mapping[Key, int],
    rows: Rows,
    movement: Movement,
    allocations: Sequence[Allocation] = (),
) -> list[StockChange]:
    """Guarded update of rows this transaction has locked, one ledger row each, and the allocations."""
    inventory = statements.INVENTORY
    keys = sorted(deltas)
    # NULL for any other (product, location) of those lists: no such row passes the guard.
    delta = case(
        *[
            ((inventory.c.product_id == pid) & (inventory.c.location_id == lid), deltas[pid, lid])
            for pid, lid in keys
        ]
    )
    result = session.execute(
        update(inventory)
        .with_hint(statements.BY_KEY_ONLY, dialect_name="mysql")
        .where(
            inventory.c.product_id.in_(sorted({pid for pid, _ in keys})),
            inventory.c.location_id.in_(sorted({lid for _, lid in keys})),
            inventory.c.quantity + delta >= 0,
        )
        .values(quantity=inventory.c.quantity + delta, updated_at=movement.at)
    )
    if result.rowcount != len(keys):  # type: ignore[attr-defined]  # only if a row was not locked
        raise _stock_changed()
    changes = write_ledger(session, rows, deltas, movement)
    write_allocations(session, allocations)
    return changes


def step_by_step(
    session: DbSession,
    deltas: Mapping[Key, int],
    movement: Movement,
    check: Check,
    allocations: Sequence[Allocation] = (),
) -> list[StockChange]:
    """Any database: lock every row of the products in (product, location) order, ``check`` them, write."""
    rows = lock_rows(session, {pid for pid, _ in deltas})
    check(rows)
    return write_locked(session, deltas, rows, movement, allocations)


def _pg_params(movement: Movement, ids: Iterable[int]) -> dict:
    template = movement.ledger_row((0, 0), 0, 0)
    params = {key: template[key] for key in ("order_id", "reason", "actor", "note")}
    return params | {"ids": sorted(set(ids)), "now": movement.at}


def in_one_statement(
    session: DbSession,
    deltas: Mapping[Key, int],
    movement: Movement,
    check: Check,
    allocations: Sequence[Allocation] = (),
) -> list[StockChange]:
    """PostgreSQL: lock, guarded update, ledger and allocations in one statement (``statements.PG_CHANGE_STOCK``).

    ``check`` runs on the rows as they were before the statement (still locked), so the error lists
    every problem exactly as ``step_by_step`` would; the transaction then rolls back what was written.
    """
    assert movement.transfer_id is None, "transfers are written step by step"
    keys = sorted(deltas)
    params = _pg_params(movement, (pid for pid, _ in keys)) | {
        "products": [pid for pid, _ in keys],
        "locations": [lid for _, lid in keys],
        "deltas": [deltas[key] for key in keys],
        "item_ids": [a.item_id for a in allocations],
        "item_locations": [a.location_id for a in allocations],
        "item_quantities": [a.quantity for a in allocations],
    }
    answer = session.execute(statements.PG_CHANGE_STOCK, params).all()
    rows = _rows(answer)
    check(rows)
    ledger_ids = {(r.product_id, r.location_id): r.ledger_id for r in answer if r.ledger_id is not None}
    if len(ledger_ids) < len(keys):
        raise _stock_changed()  # the guard failed, yet nothing looks wrong now: never commit it
    return _remember(session, rows, deltas, reports(movement, rows, deltas, ledger_ids))


def change_stock(
    session: DbSession,
    deltas: Mapping[Key, int],
    movement: Movement,
    check: Check,
    allocations: Sequence[Allocation] = (),
) -> list[StockChange]:
    """Move stock by ``deltas`` ((product, location) → units) with ledger rows, the fastest way the database allows.

    MariaDB and SQLite have no data-modifying CTEs, so only PostgreSQL takes the one-statement path.
    """
    write = in_one_statement if session.connection().dialect.name == "postgresql" else step_by_step
    return write(session, deltas, movement, check, allocations)


# -- taking an order's stock -----------------------------------------------------------------


def _allocated(session: DbSession, rows: Rows, lines: Sequence[Line], check: ProductCheck, strategy: str):
    """Judge the order on its locked rows (every problem at once), then allocate its lines."""
    check(product_rows(session, rows, {line.product_id for line in lines}))
    places, stock = serving(rows)
    return allocate(lines, stock, places, strategy)


def take_step_by_step(
    session: DbSession, lines: Sequence[Line], movement: Movement, check: ProductCheck, strategy: str
) -> list[StockChange]:
    """Any database: lock, judge, allocate, then ``write_locked``: three statements and the allocations'."""
    rows = lock_rows(session, {line.product_id for line in lines})
    allocations = _allocated(session, rows, lines, check, strategy)
    return write_locked(session, deltas_of(allocations), rows, movement, allocations)


def take_in_one_statement(
    session: DbSession, lines: Sequence[Line], movement: Movement, check: ProductCheck, strategy: str
) -> list[StockChange]:
    """PostgreSQL: the whole order from one place in one statement (``statements.PG_TAKE_STOCK``).

    When no single place can serve it, nothing was written and the answer holds the locked rows: the
    order is judged and allocated on them and written with ``in_one_statement``.
    """
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    ids = sorted(wanted)
    params = _pg_params(movement, ids) | {
        "quantities": [wanted[pid] for pid in ids],
        "item_ids": [line.item_id for line in lines],
        "item_quantities": [line.quantity for line in lines],
    }
    answer = session.execute(statements.PG_TAKE_STOCK, params).all()
    rows = _rows(answer)
    ledger_ids = {(r.product_id, r.location_id): r.ledger_id for r in answer if r.ledger_id is not None}
    if ledger_ids:
        deltas = {key: -wanted[key[0]] for key in ledger_ids}
        return _remember(session, rows, deltas, reports(movement, rows, deltas, ledger_ids))
    allocations = _allocated(session, rows, lines, check, strategy)
    return in_one_statement(session, deltas_of(allocations), movement, lambda rows: None, allocations)


def take(
    session: DbSession, lines: Sequence[Line], movement: Movement, check: ProductCheck, strategy: str
) -> list[StockChange]:
    """Take an order's stock, allocating each line, the fastest way the database allows."""
    write = take_in_one_statement if session.connection().dialect.name == "postgresql" else take_step_by_step
    return write(session, lines, movement, check, strategy)
