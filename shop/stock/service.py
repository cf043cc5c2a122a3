"""The stock service's public functions: check lines, take and return an order's stock, adjust stock.

They take plain arguments, never read the request and never commit: the unit of work (view,
CLI command, API handler) commits once, or rolls everything back on the errors raised here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import inspect, select
from sqlalchemy.orm.base import NO_VALUE

from ..errors import InsufficientStock, InvalidStockChange, InventoryError, Problem
from ..extensions import DbSession
from ..models import Inventory, MovementReason, Order, OrderItem, Product
from . import moves
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


def take_stock(
    session: DbSession, order: Order, quantities: Mapping[int, int], *, actor: str
) -> list[StockChange]:
    """Lock, check every line and decrement: one ``order_placed`` row per product.

    Raises an ``InventoryError`` listing every problem (status, no inventory, shortage) if any
    product cannot give its quantity; nothing of the order's stock is then written.
    """

    def check(rows: Mapping[int, StockRow]) -> None:
        problems = stock_problems(quantities, rows)
        if problems:
            raise InventoryError.from_problems(problems)

    movement = Movement(MovementReason.ORDER_PLACED, actor, order.id, order.number)
    deltas = {pid: -quantity for pid, quantity in quantities.items()}
    return moves.change_stock(session, deltas, movement, check, only_active=True)


def return_stock(
    session: DbSession,
    order: Order,
    quantities: Mapping[int, int],
    *,
    actor: str,
    reason: str = MovementReason.ORDER_CANCELLED,
) -> list[StockChange]:
    """Give an order's stock back: one row per product, ``order_cancelled`` or ``hold_expired``."""

    def check(rows: Mapping[int, StockRow]) -> None:
        problems = return_problems(quantities, rows)
        if problems:
            raise InventoryError(problems)

    movement = Movement(reason, actor, order.id, order.number)
    return moves.change_stock(session, dict(quantities), movement, check, only_active=False)


# -- stock on hand -----------------------------------------------------------------------------


def _inventory_row(session: DbSession, product: Product) -> StockRow:
    """``product``'s locked stock row, created at zero (through the ORM, ledgered) if it has none."""
    row = moves.lock_rows(session, [product.id])[product.id]
    if row.quantity is None:
        session.add(Inventory(product_id=product.id, quantity=0))
        session.flush()
        row = moves.lock_rows(session, [product.id])[product.id]
    return row


def adjust_stock(
    session: DbSession, product: Product, delta: int, reason: str, note: str | None = None
) -> StockChange:
    """A staff or operator change of stock (``restock`` or ``adjustment``), locked and ledgered."""
    problems = adjustment_problems(product.sku, delta, reason)
    if problems:
        raise InvalidStockChange(problems)
    row = _inventory_row(session, product)
    assert row.quantity is not None
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
    movement = Movement(reason, actor_of(session), note=note)
    return moves.write_locked(session, {product.id: delta}, {product.id: row}, movement)[0]


def set_stock(
    session: DbSession, product: Product, quantity: int, reason: str, note: str | None = None
) -> StockChange | None:
    """Bring a product's stock to ``quantity`` (an import or a count), ledgering the difference."""
    row = moves.lock_rows(session, [product.id])[product.id]
    if row.quantity is None:
        session.add(Inventory(product_id=product.id, quantity=quantity))  # ledgered as initial_stock
        return None
    if quantity == row.quantity:
        return None
    movement = Movement(reason, actor_of(session), note=note)
    delta = {product.id: quantity - row.quantity}
    return moves.write_locked(session, delta, {product.id: row}, movement)[0]


def record_initial_stock(session: DbSession, inventories: list[Inventory], *, actor: str) -> None:
    """Ledger the quantity new inventory rows were inserted with (right after their INSERT)."""
    rows = moves.read_rows(session, [inventory.product_id for inventory in inventories])
    facts = [
        moves.Fact(
            i.product_id,
            rows[i.product_id].sku,
            rows[i.product_id].low_stock_threshold,
            i.quantity,
            i.quantity,
        )
        for i in inventories
    ]
    moves.write_ledger(session, facts, Movement(MovementReason.INITIAL_STOCK, actor))
