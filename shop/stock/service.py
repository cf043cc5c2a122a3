"""The stock service's public functions: check lines, take and return an order's stock, adjust, set and
move stock between locations.

They take plain arguments, never read the request and never commit: the unit of work (view,
CLI command, API handler) commits once, or rolls everything back on the errors raised here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import inspect, select
from sqlalchemy.orm.base import NO_VALUE
from ulid import ULID

from ..errors import InsufficientStock, InvalidStockChange, InventoryError, Problem
from ..extensions import DbSession
from ..locations import find_location, location_named
from ..models import Inventory, Location, MovementReason, Order, OrderItem, Product
from . import moves, statements
from .allocation import Line, configured_strategy
from .moves import Movement
from .rules import (
    MAX_LINES,
    StockChange,
    StockRow,
    adjustment_problems,
    limit_problems,
    quantity_problem,
    return_problems,
    stock_problems,
    transfer_problems,
)


def actor_of(session: DbSession) -> str:
    """Who the current unit of work acts for (set by ``shop.database.commit_unit_of_work``)."""
    return session.info.get("actor", "system")


# -- checking an order's lines, before they are written ----------------------------------------


def _load_products(session: DbSession, items: Iterable[OrderItem]) -> dict[int, Product]:
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


def _product_of(item: OrderItem, products: Mapping[int, Product]) -> Product | None:
    product = inspect(item).attrs.product.loaded_value
    if product is NO_VALUE or product is None:
        product = products.get(item.product_id)
    return product


def check_lines(
    session: DbSession,
    order: Order,
    *,
    taking: bool,
    problems: Iterable[Problem] = (),
    default_max_per_order: int | None = None,
) -> dict[int, int]:
    """Fill in unit prices and check every line; raise one error listing every problem.

    Returns the quantity requested per product id (duplicate lines summed). When ``taking``
    and some line is bad (or the caller passes ``problems`` it found already), the stock rules
    are checked too, without locks, so that every problem is reported at once. A customer's order
    passes ``default_max_per_order``: the limit of products that set none (``rules.order_limit``).
    """
    items = order.items
    products = _load_products(session, items)
    problems = list(problems)
    requested: dict[int, int] = {}
    ordered: dict[int, Product] = {}
    if taking and not items:
        problems.append(Problem("empty_order", "An order needs at least one line to take stock."))
    if len(items) > MAX_LINES:
        problems.append(Problem("too_many_lines", f"An order may have at most {MAX_LINES} lines."))
    for item in items:
        product = _product_of(item, products)
        if product is None:
            problems.append(
                Problem(
                    "unknown_product", f"Product #{item.product_id} does not exist.", requested=item.quantity
                )
            )
            continue
        if item.unit_price_cents is None:
            item.unit_price_cents = product.price_cents
        problem = quantity_problem(product.sku, item.quantity)
        if problem:
            problems.append(problem)
        elif product.id is not None:
            requested[product.id] = requested.get(product.id, 0) + item.quantity
            ordered[product.id] = product
    problems += limit_problems(requested, ordered, default_max_per_order)
    if problems and taking and requested:
        problems += stock_problems(requested, moves.read_rows(session, requested))
    if problems:
        raise InventoryError.from_problems(problems)
    return requested


# -- an order's stock --------------------------------------------------------------------------


def take_stock(session: DbSession, order: Order, *, actor: str) -> list[StockChange]:
    """Lock, check every line, allocate each to its locations and decrement: one ``order_placed`` row
    per (product, location), and the lines' allocations.

    Raises an ``InventoryError`` listing every problem (status, no inventory, shortage against the
    product's ``on_hand``) if any product cannot give its quantity; nothing of the order's stock is
    then written. Where the units come from is ``shop.stock.allocation``'s rule, by
    ``SHOP_ALLOCATION``.
    """
    lines = [Line(item.id, item.product_id, item.quantity) for item in order.items]
    quantities: dict[int, int] = {}
    for line in lines:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity

    def check(rows: Mapping[int, StockRow]) -> None:
        problems = stock_problems(quantities, rows)
        if problems:
            raise InventoryError.from_problems(problems)

    movement = Movement(MovementReason.ORDER_PLACED, actor, order.id, order.number)
    return moves.take(session, lines, movement, check, configured_strategy())


def return_stock(
    session: DbSession, order: Order, *, actor: str, reason: str = MovementReason.ORDER_CANCELLED
) -> list[StockChange]:
    """Give an order's stock back where it came from: one row per (product, location) of its allocations,
    ``order_cancelled`` or ``hold_expired``."""
    deltas = {
        (pid, lid): int(quantity)
        for pid, lid, quantity in session.execute(statements.ALLOCATED, {"order_id": order.id})
    }

    def check(rows: moves.Rows) -> None:
        problems = return_problems(deltas, rows)
        if problems:
            raise InventoryError(problems)

    if not deltas:  # only rows written around the shop can leave an order that took stock without them
        message = f"Order {order.number} took stock but says nowhere where: nothing to give back."
        raise InventoryError([Problem("no_allocations", message)])
    movement = Movement(reason, actor, order.id, order.number)
    return moves.change_stock(session, deltas, movement, check)


# -- stock on hand -----------------------------------------------------------------------------


def _rows_with(session: DbSession, product: Product, locations: list[Location]) -> moves.Rows:
    """Every stock row of ``product``, locked, with one at each of ``locations`` (created at zero,
    through the ORM, if it has none)."""
    rows = moves.lock_rows(session, [product.id])
    missing = [location for location in locations if (product.id, location.id) not in rows]
    if missing:
        session.add_all(
            Inventory(product_id=product.id, location_id=location.id, quantity=0) for location in missing
        )
        session.flush()
        rows = moves.lock_rows(session, [product.id])
    return rows


def adjust_stock(
    session: DbSession,
    product: Product,
    delta: int,
    reason: str,
    note: str | None = None,
    *,
    location: str | None = None,
) -> StockChange:
    """A staff or operator change of stock (``restock`` or ``adjustment``) at ``location`` (a code; None:
    the default location), locked and ledgered."""
    problems = adjustment_problems(product.sku, delta, reason)
    place = find_location(session, location) if location is not None else None
    if location is not None and place is None:
        problems.append(unknown_location(product.sku, location))
    if problems:
        raise InvalidStockChange(problems)
    place = place or location_named(session, None)
    rows = _rows_with(session, product, [place])
    row = rows[product.id, place.id]
    if row.quantity + delta < 0:
        message = f"{product.sku}: cannot remove {-delta}, only {row.quantity} on hand at {place.code}."
        raise _short(product.sku, -delta, row.quantity, message)
    movement = Movement(reason, actor_of(session), note=note)
    return moves.write_locked(session, {(product.id, place.id): delta}, rows, movement)[0]


def set_stock(
    session: DbSession,
    product: Product,
    quantity: int,
    reason: str,
    note: str | None = None,
    *,
    location: str | None = None,
) -> StockChange | None:
    """Bring a product's stock at ``location`` (None: the default) to ``quantity`` (an import or a count),
    ledgering the difference."""
    place = location_named(session, location)
    rows = moves.lock_rows(session, [product.id])
    row = rows.get((product.id, place.id))
    if row is None:
        session.add(
            Inventory(product_id=product.id, location_id=place.id, quantity=quantity)
        )  # initial_stock
        return None
    if quantity == row.quantity:
        return None
    movement = Movement(reason, actor_of(session), note=note)
    return moves.write_locked(session, {(product.id, place.id): quantity - row.quantity}, rows, movement)[0]


def _short(sku: str, requested: int, available: int, message: str) -> InsufficientStock:
    """The refusal of a change that wants more units than one location has (``message`` says where)."""
    return InsufficientStock(
        [Problem("insufficient_stock", message, sku=sku, requested=requested, available=available)]
    )


def unknown_location(sku: str | None, code: str) -> Problem:
    """The problem of a location code that names no location."""
    return Problem("unknown_location", f"There is no location {code}.", sku=sku)


@dataclass(frozen=True)
class Transfer:
    """A transfer as written: its id and its two ledger rows, out of the source and into the target."""

    transfer_id: str
    taken: StockChange
    given: StockChange


def new_transfer_id() -> str:
    """``trf_`` and a ULID: what a transfer's two ledger rows share."""
    return f"trf_{ULID()}"


def transfer_request_problems(
    session: DbSession, sku: str, quantity: object, source: str, target: str
) -> list[Problem]:
    """Every problem of a transfer request itself: the quantity, equal locations, unknown locations."""
    problems = transfer_problems(sku, quantity, source, target)
    return problems + [
        unknown_location(sku, code)
        for code in dict.fromkeys((source, target))
        if find_location(session, code) is None
    ]


def transfer_stock(
    session: DbSession, product: Product, quantity: int, source: str, target: str, note: str | None = None
) -> Transfer:
    """Move ``quantity`` units of ``product`` from location ``source`` to ``target`` (codes), in this
    transaction: a ``transfer_out`` and a ``transfer_in`` ledger row sharing a transfer id.

    Raises ``InvalidStockChange`` listing every problem of the request (quantity, unknown or equal
    locations), ``InsufficientStock`` when ``source`` has fewer units; nothing is written then.
    """
    problems = transfer_request_problems(session, product.sku, quantity, source, target)
    if problems:
        raise InvalidStockChange(problems)
    places = {code: location_named(session, code) for code in (source, target)}
    origin, destination = places[source], places[target]
    rows = _rows_with(session, product, [destination])
    row = rows.get((product.id, origin.id))
    available = row.quantity if row is not None else 0
    if available < quantity:
        message = f"{product.sku}: {quantity} to move, only {available} at {origin.code}."
        raise _short(product.sku, quantity, available, message)
    transfer_id = new_transfer_id()
    movement = Movement(MovementReason.TRANSFER_OUT, actor_of(session), note=note, transfer_id=transfer_id)
    deltas = {(product.id, origin.id): -quantity, (product.id, destination.id): quantity}
    changes = {change.location: change for change in moves.write_locked(session, deltas, rows, movement)}
    return Transfer(transfer_id, changes[origin.code], changes[destination.code])


def record_initial_stock(session: DbSession, inventories: list[Inventory], *, actor: str) -> None:
    """Ledger the quantity new inventory rows were inserted with (right after their INSERT)."""
    rows = moves.read_located(session, {inventory.product_id for inventory in inventories})
    deltas = {(i.product_id, i.location_id): i.quantity for i in inventories}
    before = {key: row._replace(quantity=row.quantity - deltas.get(key, 0)) for key, row in rows.items()}
    moves.write_ledger(session, before, deltas, Movement(MovementReason.INITIAL_STOCK, actor))
