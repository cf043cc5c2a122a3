"""The stock service: validation, row locks, guarded decrements and the ledger.

It takes plain arguments, never reads the request and never commits: the unit of
work (view, CLI command, API handler) commits once. Work that needs the ids of rows
being inserted (ledger rows point at their order) is queued with ``after_flush`` and
runs inside the same flush, right after the INSERTs, so row locks are taken as late
as possible and held only until the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, case, insert, inspect, select, text, update
from sqlalchemy.orm import Session, attributes
from sqlalchemy.orm.base import NO_VALUE

from .errors import (
    InsufficientStock,
    InvalidStatusTransition,
    InvalidStockChange,
    InventoryError,
    OrderLocked,
    Problem,
)
from .models import (
    Inventory,
    InventoryMovement,
    MovementReason,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductStatus,
    utcnow,
)

COMMITTING = frozenset({OrderStatus.CONFIRMED, OrderStatus.PAID})
TRANSITIONS = {
    OrderStatus.DRAFT: {OrderStatus.CONFIRMED, OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.CONFIRMED: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.CANCELLED},
    OrderStatus.CANCELLED: set(),
}
MAX_LINE_QUANTITY = 10_000
MAX_LINES = 500
MAX_ADJUSTMENT = 1_000_000
MANUAL_REASONS = (MovementReason.RESTOCK, MovementReason.ADJUSTMENT)

_AFTER_FLUSH = "shop.after_flush"
_CHANGES = "shop.stock_changes"
_INVENTORY = Inventory.__table__
_MOVEMENTS = InventoryMovement.__table__


@dataclass(frozen=True)
class StockChange:
    """One ledger row, reported after commit (audit log, low-stock notice)."""

    product_id: int
    sku: str
    delta: int
    quantity_after: int
    reason: str
    actor: str
    order_number: str | None
    note: str | None
    low_stock_threshold: int

    @property
    def is_low(self) -> bool:
        return self.delta < 0 and self.quantity_after <= self.low_stock_threshold


class StockRow(NamedTuple):
    """What the stock rules need of one product, read together with its inventory row."""

    sku: str
    status: str
    low_stock_threshold: int
    quantity: int | None  # None: the product has no inventory row


# -- the unit of work's bookkeeping ---------------------------------------------------


def actor_of(session: Session) -> str:
    """Who the current unit of work acts for (set by the edge in ``session.info``)."""
    return session.info.get("actor", "system")


def after_flush(session: Session, work: Callable[[], None]) -> None:
    """Run ``work`` in the current flush, right after its INSERTs and UPDATEs."""
    session.info.setdefault(_AFTER_FLUSH, []).append(work)


def run_after_flush(session: Session) -> None:
    for work in session.info.pop(_AFTER_FLUSH, []):
        work()


def reset_after_flush(session: Session) -> None:
    session.info.pop(_AFTER_FLUSH, None)


def discard_pending(session: Session) -> None:
    """Forget queued work and unreported changes: the transaction rolled back."""
    session.info.pop(_AFTER_FLUSH, None)
    session.info.pop(_CHANGES, None)


def pop_changes(session: Session) -> list[StockChange]:
    return session.info.pop(_CHANGES, [])


# -- status rules ------------------------------------------------------------------------


def lock_order(session: Session, order: Order) -> str:
    """Lock the order's row and refresh what the status rules read from it.

    Concurrent status changes or line edits of one order then go one at a time, each seeing
    the other's result: two cancellations cannot both return the stock.
    """
    status, committed_at = session.execute(_LOCK_ORDER, {"id": order.id}).one()
    attributes.set_committed_value(order, "stock_committed_at", committed_at)
    if not inspect(order).attrs["items"].history.has_changes():
        session.expire(order, ["items"])  # reloaded on use, as committed by whoever held the lock
    return status


def check_status(status: str) -> None:
    if status not in TRANSITIONS:
        raise InventoryError(
            [
                Problem(
                    "invalid_status",
                    f"Unknown order status {status!r}; use one of: " + ", ".join(TRANSITIONS) + ".",
                )
            ]
        )


def check_transition(old: str, new: str) -> None:
    """Raise ``InvalidStatusTransition`` unless DESIGN.md §3 allows ``old → new``."""
    check_status(new)
    if new not in TRANSITIONS.get(old, ()):
        raise InvalidStatusTransition(old, new)


# -- line validation (before flush) -------------------------------------------------------


def _item_product(item: OrderItem, products: Mapping[int, Product]) -> Product | None:
    product = inspect(item).attrs.product.loaded_value
    if product is NO_VALUE or product is None:
        product = products.get(item.product_id)
    return product


def load_products(session: Session, items: Iterable[OrderItem]) -> dict[int, Product]:
    """The products of ``items`` by id: from the identity map, else in one query."""
    ids = {item.product_id for item in items if item.product_id is not None}
    found = {}
    for pid in ids:
        product = session.identity_map.get(inspect(Product).identity_key_from_primary_key((pid,)))
        if product is not None:
            found[pid] = product
    missing = ids - found.keys()
    if missing:
        found.update((p.id, p) for p in session.scalars(select(Product).where(Product.id.in_(missing))))
    return found


def valid_quantity(quantity: object) -> bool:
    return isinstance(quantity, int) and not isinstance(quantity, bool) and 0 < quantity <= MAX_LINE_QUANTITY


def quantity_problem(sku: str | None, quantity: object) -> Problem | None:
    """A problem if ``quantity`` is not a whole number between 1 and ``MAX_LINE_QUANTITY``."""
    if valid_quantity(quantity):
        return None
    if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > MAX_LINE_QUANTITY:
        return Problem(
            "quantity_too_large",
            f"{sku}: {quantity} is more than the {MAX_LINE_QUANTITY} allowed on one line.",
            sku=sku,
            requested=quantity,
        )
    return Problem(
        "invalid_quantity",
        f"{sku}: quantity must be a whole number of at least 1, not {quantity!r}.",
        sku=sku,
    )


def prepare_lines(
    session: Session, order: Order, *, taking: bool, problems: Iterable[Problem] = ()
) -> dict[Product, int]:
    """Fill unit prices and check every line; raise one error listing every problem.

    Returns the quantity requested per product (duplicate lines summed). When ``taking``
    and some line is bad (or the caller passes ``problems`` it found already), the stock
    rules are checked too, without locks, so that every problem is reported at once.
    """
    items = order.items
    products = load_products(session, items)
    problems = list(problems)
    requested: dict[Product, int] = {}
    if taking and not items:
        problems.append(Problem("empty_order", "An order needs at least one line to take stock."))
    if len(items) > MAX_LINES:
        problems.append(Problem("too_many_lines", f"An order may have at most {MAX_LINES} lines."))
    for item in items:
        product = _item_product(item, products)
        if product is None:
            problems.append(
                Problem(
                    "unknown_product",
                    f"Product #{item.product_id} does not exist.",
                    sku=None,
                    requested=item.quantity,
                )
            )
            continue
        if item.unit_price_cents is None:
            item.unit_price_cents = product.price_cents
        problem = quantity_problem(product.sku, item.quantity)
        if problem:
            problems.append(problem)
        else:
            requested[product] = requested.get(product, 0) + item.quantity
    if problems and taking and requested:
        rows = _read_rows(session, [p.id for p in requested if p.id is not None])
        problems += stock_problems({p.id: q for p, q in requested.items()}, rows)
    if problems:
        raise InventoryError.from_problems(problems)
    return requested


def stock_problems(requested: Mapping[int, int], rows: Mapping[int, StockRow]) -> list[Problem]:
    """Availability, status and shortage problems of ``requested`` quantities per product id."""
    problems = []
    for pid, wanted in requested.items():
        row = rows.get(pid)
        if row is None:
            problems.append(Problem("unknown_product", f"Product #{pid} does not exist.", requested=wanted))
        elif row.status == ProductStatus.DISCONTINUED:
            problems.append(
                Problem(
                    "discontinued", f"{row.sku} is discontinued.", sku=row.sku, requested=wanted, available=0
                )
            )
        elif row.status == ProductStatus.UNAVAILABLE:
            problems.append(
                Problem(
                    "unavailable",
                    f"{row.sku} is temporarily unavailable.",
                    sku=row.sku,
                    requested=wanted,
                    available=0,
                )
            )
        elif row.quantity is None:
            problems.append(
                Problem(
                    "no_inventory", f"{row.sku} is not stocked.", sku=row.sku, requested=wanted, available=0
                )
            )
        elif row.quantity < wanted:
            problems.append(
                Problem(
                    "insufficient_stock",
                    f"{row.sku}: {wanted} requested, only {row.quantity} available.",
                    sku=row.sku,
                    requested=wanted,
                    available=row.quantity,
                )
            )
    return problems


# -- statements, built once: SQLAlchemy compiles each a single time and caches it --------------


def _product_fact(column):
    return select(column).where(Product.id == Inventory.product_id).scalar_subquery()


# Product facts come from scalar subqueries so that only inventory rows are locked: an exclusive
# lock on ``products`` would collide with the shared locks that foreign key checks of concurrent
# order lines take (MariaDB has no ``FOR UPDATE OF``).
_LOCK_ROWS = (
    select(
        Inventory.product_id,
        _product_fact(Product.sku),
        _product_fact(Product.status),
        _product_fact(Product.low_stock_threshold),
        Inventory.quantity,
    )
    .where(Inventory.product_id.in_(bindparam("ids", expanding=True)))
    .order_by(Inventory.product_id)
    .with_for_update()
)
_READ_ROWS = (
    select(Product.id, Product.sku, Product.status, Product.low_stock_threshold, Inventory.quantity)
    .outerjoin(Inventory)
    .where(Product.id.in_(bindparam("ids", expanding=True)))
)
_INSERT_MOVEMENTS = insert(_MOVEMENTS)  # executed with a list of rows: one executemany, any number of rows
_INSERT_INVENTORY = insert(_INVENTORY)
_LOCK_ORDER = (
    select(Order.status, Order.stock_committed_at).where(Order.id == bindparam("id")).with_for_update()
)

# PostgreSQL: lock, guarded update and ledger rows in one statement whatever the number of lines.
# ``locked`` takes the row locks in product-id order (no deadlock between orders sharing products)
# and reads each row's stock as it is once locked. ``changed`` guards and computes the new stock
# from that locked stock, never from ``i``: ``i`` is read with the statement's snapshot, which
# predates any change committed while we waited for the lock (a guard on it would refuse an order
# that a restock we waited for can serve, and the CHECK constraint is evaluated on a row computed
# from it before PostgreSQL notices the newer version). Deltas apply only where the guard holds and,
# when ``only_active``, only to active products; ``ledger`` writes one row per changed product. A
# product that fails the guard is missing from the answer: the caller reports why, and the
# transaction rolls back with the rows already written. Only inventory rows are locked (see
# _LOCK_ROWS); the CHECK on inventory.quantity stays the last line of defence.
_PG_CHANGE_STOCK = text("""WITH locked AS (
    SELECT product_id, quantity FROM inventory
    WHERE product_id = ANY(CAST(:ids AS integer[]))
    ORDER BY product_id
    FOR UPDATE
), changed AS (
    UPDATE inventory AS i
    SET quantity = locked.quantity + d.delta, updated_at = CAST(:now AS timestamp)
    FROM locked
    JOIN unnest(CAST(:ids AS integer[]), CAST(:deltas AS integer[])) AS d (product_id, delta)
        ON d.product_id = locked.product_id
    JOIN products AS p ON p.id = locked.product_id
    WHERE i.product_id = locked.product_id
      AND locked.quantity + d.delta >= 0
      AND (NOT CAST(:only_active AS boolean) OR p.status = 'active')
    RETURNING i.product_id, i.quantity, d.delta, p.sku, p.low_stock_threshold
), ledger AS (
    INSERT INTO inventory_movements (product_id, order_id, delta, quantity_after, reason, actor, note, created_at)
    SELECT product_id, CAST(:order_id AS integer), delta, quantity, CAST(:reason AS varchar),
           CAST(:actor AS varchar), CAST(:note AS varchar), CAST(:now AS timestamp)
    FROM changed
)
SELECT product_id, quantity, sku, low_stock_threshold FROM changed""")


# -- reads and locks ---------------------------------------------------------------------


def _read_rows(session: Session, ids: Iterable[int]) -> dict[int, StockRow]:
    """Products with their stock, without locks (for reporting)."""
    return {pid: StockRow(*rest) for pid, *rest in session.execute(_READ_ROWS, {"ids": list(ids)})}


def lock_rows(session: Session, ids: Iterable[int]) -> dict[int, StockRow]:
    """Lock the inventory rows of ``ids`` in one statement, in product-id order.

    Products without an inventory row are looked up without a lock.
    """
    ids = sorted(set(ids))
    rows = {pid: StockRow(*rest) for pid, *rest in session.execute(_LOCK_ROWS, {"ids": ids})}
    if len(rows) < len(ids):
        rows.update(_read_rows(session, set(ids) - rows.keys()))
    return rows


# -- writes ------------------------------------------------------------------------------

Check = Callable[[Mapping[int, StockRow]], None]  # raises the caller's error listing every problem


def _remember(session: Session, changes: list[StockChange]) -> list[StockChange]:
    """Keep loaded Inventory objects true without reloading them; queue the changes for after commit."""
    for c in changes:
        inventory = session.identity_map.get(
            inspect(Inventory).identity_key_from_primary_key((c.product_id,))
        )
        if inventory is not None:
            attributes.set_committed_value(inventory, "quantity", c.quantity_after)
    session.info.setdefault(_CHANGES, []).extend(changes)
    return changes


def _stock_changed() -> InsufficientStock:
    return InsufficientStock([Problem("insufficient_stock", "Stock changed while it was being taken.")])


def _apply(
    session: Session,
    deltas: Mapping[int, int],
    rows: Mapping[int, StockRow],
    reason: str,
    *,
    order: Order | None = None,
    note: str | None = None,
) -> list[StockChange]:
    """Guarded update of locked rows plus one ledger row each, in two statements."""
    ids = sorted(deltas)
    delta = case(deltas, value=_INVENTORY.c.product_id)
    now = utcnow()
    result = session.execute(
        update(_INVENTORY)
        .where(_INVENTORY.c.product_id.in_(ids), _INVENTORY.c.quantity + delta >= 0)
        .values(quantity=_INVENTORY.c.quantity + delta, updated_at=now)
    )
    if result.rowcount != len(ids):  # only possible if a row was not locked: never commit it
        raise _stock_changed()
    actor = actor_of(session)
    order_id, number = (order.id, order.number) if order is not None else (None, None)
    changes = [
        StockChange(
            pid,
            rows[pid].sku,
            deltas[pid],
            rows[pid].quantity + deltas[pid],
            reason,
            actor,
            number,
            note,
            rows[pid].low_stock_threshold,
        )
        for pid in ids
    ]
    session.execute(
        _INSERT_MOVEMENTS,
        [
            {
                "product_id": c.product_id,
                "order_id": order_id,
                "delta": c.delta,
                "quantity_after": c.quantity_after,
                "reason": reason,
                "actor": actor,
                "note": note,
                "created_at": now,
            }
            for c in changes
        ],
    )
    return _remember(session, changes)


def _change_step_by_step(
    session: Session, deltas: Mapping[int, int], reason: str, check: Check, *, order: Order, only_active: bool
) -> list[StockChange]:
    """Any database: lock the rows in product-id order, ``check`` them (status included), then ``_apply``."""
    rows = lock_rows(session, deltas)
    check(rows)
    return _apply(session, deltas, rows, reason, order=order)


def _change_in_one_statement(
    session: Session, deltas: Mapping[int, int], reason: str, check: Check, *, order: Order, only_active: bool
) -> list[StockChange]:
    """PostgreSQL: lock, guarded update and ledger in one statement (``_PG_CHANGE_STOCK``).

    If a product is missing from the answer, ``check`` runs on the rows as they were before the
    statement (still locked, with this statement's own changes taken back out), so the error lists
    every problem exactly as ``_change_step_by_step`` would.
    """
    ids = sorted(deltas)
    now = utcnow()
    actor = actor_of(session)
    changed = {
        pid: rest
        for pid, *rest in session.execute(
            _PG_CHANGE_STOCK,
            {
                "ids": ids,
                "deltas": [deltas[pid] for pid in ids],
                "only_active": only_active,
                "now": now,
                "order_id": order.id,
                "reason": reason,
                "actor": actor,
                "note": None,
            },
        )
    }
    if len(changed) < len(ids):
        rows = lock_rows(session, ids)  # locked already: this reads them as they stand
        for pid in changed:
            rows[pid] = rows[pid]._replace(quantity=rows[pid].quantity - deltas[pid])
        check(rows)
        raise _stock_changed()  # the guard failed, yet nothing looks wrong now: never commit it
    return _remember(
        session,
        [
            StockChange(pid, sku, deltas[pid], quantity_after, reason, actor, order.number, None, threshold)
            for pid, (quantity_after, sku, threshold) in sorted(changed.items())
        ],
    )


_CHANGE_STRATEGIES = {"postgresql": _change_in_one_statement}  # no data-modifying CTEs on MariaDB or SQLite


def _change_order_stock(
    session: Session, order: Order, deltas: Mapping[int, int], reason: str, check: Check, *, only_active: bool
) -> list[StockChange]:
    """Move an order's stock by ``deltas`` with ledger rows, the fastest way the database allows."""
    strategy = _CHANGE_STRATEGIES.get(session.connection().dialect.name, _change_step_by_step)
    return strategy(session, deltas, reason, check, order=order, only_active=only_active)


def take_stock(session: Session, order: Order, requested: Mapping[Product, int]) -> None:
    """Lock, check every line and decrement; raise listing every problem if any line fails."""
    wanted = {product.id: quantity for product, quantity in requested.items()}

    def check(rows: Mapping[int, StockRow]) -> None:
        problems = stock_problems(wanted, rows)
        if problems:
            raise InventoryError.from_problems(problems)

    _change_order_stock(
        session,
        order,
        {pid: -q for pid, q in wanted.items()},
        MovementReason.ORDER_PLACED,
        check,
        only_active=True,
    )


def return_stock(session: Session, order: Order, requested: Mapping[int, int]) -> None:
    """Give a cancelled order's stock back: one ``order_cancelled`` row per product."""

    def check(rows: Mapping[int, StockRow]) -> None:
        missing = [pid for pid in requested if rows.get(pid) is None or rows[pid].quantity is None]
        if missing:
            raise InventoryError(
                [
                    Problem("no_inventory", f"Product #{pid} has no inventory row to return stock to.")
                    for pid in missing
                ]
            )

    _change_order_stock(session, order, requested, MovementReason.ORDER_CANCELLED, check, only_active=False)


def adjust_stock(
    session: Session, product: Product, delta: int, reason: str, note: str | None = None
) -> StockChange:
    """A staff or operator change of stock (``restock`` or ``adjustment``), ledgered."""
    problems = []
    if reason not in MANUAL_REASONS:
        problems.append(
            Problem("invalid_reason", f"Reason must be one of: {', '.join(MANUAL_REASONS)}.", sku=product.sku)
        )
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0 or abs(delta) > MAX_ADJUSTMENT:
        problems.append(
            Problem(
                "invalid_delta",
                f"{product.sku}: the change must be a non-zero whole number "
                f"between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}.",
                sku=product.sku,
            )
        )
    elif reason == MovementReason.RESTOCK and delta < 0:
        problems.append(
            Problem(
                "invalid_delta",
                f"{product.sku}: a restock adds stock; use an adjustment to remove it.",
                sku=product.sku,
            )
        )
    if problems:
        raise InvalidStockChange(problems)
    row = lock_rows(session, [product.id]).get(product.id)
    if row.quantity is None:  # first stock for this product: start its inventory row at zero
        session.execute(_INSERT_INVENTORY, {"product_id": product.id, "quantity": 0, "updated_at": utcnow()})
        row = lock_rows(session, [product.id])[product.id]
    if row.quantity + delta < 0:
        raise InsufficientStock(
            [
                Problem(
                    "insufficient_stock",
                    f"{product.sku}: cannot remove {-delta}, only {row.quantity} on hand.",
                    sku=product.sku,
                    requested=-delta,
                    available=row.quantity,
                )
            ]
        )
    return _apply(session, {product.id: delta}, {product.id: row}, reason, note=note)[0]


def set_stock(
    session: Session, product: Product, quantity: int, reason: str, note: str | None = None
) -> StockChange | None:
    """Bring a product's stock to ``quantity`` (an import or a count), ledgering the difference."""
    rows = lock_rows(session, [product.id])
    current = rows[product.id].quantity
    if current is None:
        session.add(Inventory(product_id=product.id, quantity=quantity))  # ledgered as initial stock
        return None
    if quantity == current:
        return None
    return _apply(session, {product.id: quantity - current}, rows, reason, note=note)[0]


def record_initial_stock(session: Session, inventory: Inventory) -> None:
    """Ledger the quantity a new inventory row was inserted with (after its INSERT)."""
    row = _read_rows(session, [inventory.product_id])[inventory.product_id]
    quantity = inventory.quantity
    now = utcnow()
    actor = actor_of(session)
    session.execute(
        _INSERT_MOVEMENTS,
        {
            "product_id": inventory.product_id,
            "order_id": None,
            "delta": quantity,
            "quantity_after": quantity,
            "reason": MovementReason.INITIAL_STOCK,
            "actor": actor,
            "note": None,
            "created_at": now,
        },
    )
    session.info.setdefault(_CHANGES, []).append(
        StockChange(
            inventory.product_id,
            row.sku,
            quantity,
            quantity,
            MovementReason.INITIAL_STOCK,
            actor,
            None,
            None,
            row.low_stock_threshold,
        )
    )


def ordered_quantities(order: Order) -> dict[int, int]:
    """Quantity per product id across an order's lines (duplicates summed)."""
    totals: dict[int, int] = {}
    for item in order.items:
        totals[item.product_id] = totals.get(item.product_id, 0) + item.quantity
    return totals


def ensure_lines_editable(order: Order) -> None:
    if order.stock_committed_at is not None:
        raise OrderLocked(order.number)
