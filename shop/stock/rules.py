"""The stock rules that need no database: limits, line, adjustment and transfer checks, shortages, low stock.

Nothing here reads or writes a row: the functions take values, loaded objects or ``StockRow`` tuples
and return answers or problems. ``STOCK_IS_LOW`` and ``IS_ORDERABLE`` are the rules also given as
SQL, for queries that filter on them.

A product's stock for these rules is its ``on_hand``: the units at active locations that fulfil
orders (``shop.models.Product.on_hand``). Where an order's units come from is decided apart, under
the row locks (``shop.stock.allocation``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple, TypeGuard

from sqlalchemy import and_

from ..errors import Problem
from ..models import MovementReason, Order, Product, ProductStatus

MAX_LINE_QUANTITY = 10_000
MAX_LINES = 500
MAX_ADJUSTMENT = 1_000_000
MANUAL_REASONS = (MovementReason.RESTOCK, MovementReason.ADJUSTMENT)


def stock_is_low(quantity: int | None, low_stock_threshold: int) -> bool:
    """At or below the product's low-stock threshold; a product that is not stocked is not low."""
    return quantity is not None and quantity <= low_stock_threshold


# ``stock_is_low`` as a WHERE clause over products (``on_hand`` NULL: not stocked, not low).
STOCK_IS_LOW = Product.on_hand <= Product.low_stock_threshold
# ``availability(...).orderable`` as a WHERE clause over products: active, with stock on hand.
IS_ORDERABLE = and_(Product.status == ProductStatus.ACTIVE, Product.on_hand > 0)


class StockRow(NamedTuple):
    """What the stock rules need of one product: its facts and its ``on_hand``."""

    sku: str
    status: str
    low_stock_threshold: int
    quantity: int | None  # None: no active location that fulfils orders keeps the product


class StockLevel(NamedTuple):
    """A product's ``on_hand`` before and after one change (of one or more of its locations)."""

    before: int
    after: int


@dataclass(frozen=True)
class StockChange:
    """One ledger row, reported after commit (audit log, events, low-stock notice).

    ``quantity_after`` is the stock at ``location`` after the row. ``level`` is the product's
    ``on_hand`` before and after the whole change, on the product's last row of the change only
    (None on the others), so that what is judged per product (low, out) is judged once.
    """

    product_id: int
    sku: str
    location: str
    delta: int
    quantity_after: int
    reason: str
    actor: str
    order_number: str | None
    note: str | None
    low_stock_threshold: int
    ledger_id: int
    level: StockLevel | None = None

    @property
    def is_low(self) -> bool:
        """This change lowered the product's ``on_hand`` and left it low (the after-commit ``stock_low`` notice)."""
        level = self.level
        return (
            level is not None
            and level.after < level.before
            and stock_is_low(level.after, self.low_stock_threshold)
        )

    @property
    def went_low(self) -> bool:
        """``on_hand`` from above the low-stock threshold to at or below it, still above 0 (event ``stock.low``)."""
        level = self.level
        return level is not None and level.before > self.low_stock_threshold >= level.after > 0

    @property
    def went_out(self) -> bool:
        """``on_hand`` from some stock to none (event ``stock.out``)."""
        level = self.level
        return level is not None and level.before > 0 and level.after == 0


class Availability(StrEnum):
    """What a customer is told about a product (the web badges and the API's ``availability``)."""

    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    UNAVAILABLE = "unavailable"
    DISCONTINUED = "discontinued"

    @property
    def orderable(self) -> bool:
        return self in (Availability.IN_STOCK, Availability.LOW_STOCK)


def availability(status: str, on_hand: int | None, low_stock_threshold: int) -> Availability:
    """Discontinued, temporarily unavailable, out of stock (none on hand or not stocked), low, in stock."""
    if status == ProductStatus.DISCONTINUED:
        return Availability.DISCONTINUED
    if status == ProductStatus.UNAVAILABLE:
        return Availability.UNAVAILABLE
    if not on_hand or on_hand <= 0:
        return Availability.OUT_OF_STOCK
    if stock_is_low(on_hand, low_stock_threshold):
        return Availability.LOW_STOCK
    return Availability.IN_STOCK


def is_whole_number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def quantity_problem(sku: str | None, quantity: object) -> Problem | None:
    """A problem if ``quantity`` is not a whole number between 1 and ``MAX_LINE_QUANTITY``."""
    if is_whole_number(quantity) and 0 < quantity <= MAX_LINE_QUANTITY:
        return None
    if is_whole_number(quantity) and quantity > MAX_LINE_QUANTITY:
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


def ordered_quantities(order: Order) -> dict[int, int]:
    """Quantity per product id across an order's lines (duplicates summed)."""
    totals: dict[int, int] = {}
    for item in order.items:
        totals[item.product_id] = totals.get(item.product_id, 0) + item.quantity
    return totals


def order_limit(max_per_order: int | None, default: int | None = None) -> int | None:
    """Units of a product one order may take: its own ``max_per_order``, else ``default`` (0 or None: no limit).

    The default is the shop's for customers (``SHOP_DEFAULT_MAX_PER_ORDER``); staff orders pass none.
    """
    return max_per_order if max_per_order is not None else (default or None)


def limit_problems(
    requested: Mapping[int, int], products: Mapping[int, Product], default: int | None = None
) -> list[Problem]:
    """Products ordered beyond their per-order limit (``order_limit``), all lines of the order summed."""
    problems = []
    for pid, wanted in requested.items():
        limit = order_limit(products[pid].max_per_order, default)
        if limit is not None and wanted > limit:
            sku = products[pid].sku
            problems.append(
                Problem(
                    "over_limit",
                    f"{sku}: {wanted} requested, at most {limit} per order.",
                    sku=sku,
                    requested=wanted,
                    limit=limit,
                )
            )
    return problems


def _shortage_message(sku: str | None, wanted: int | None, available: int | None) -> str:
    if available is None:
        return f"{sku}: {wanted} requested, not enough in stock."
    return f"{sku}: {wanted} requested, only {available} available."


def shortage(row: StockRow, wanted: int) -> Problem:
    return Problem(
        "insufficient_stock",
        _shortage_message(row.sku, wanted, row.quantity),
        sku=row.sku,
        requested=wanted,
        available=row.quantity,
        low_stock_threshold=row.low_stock_threshold,
    )


def for_strangers(problem: Problem) -> Problem:
    """``problem`` as a customer is told it: a shortage says how many are left only when stock is low.

    Staff see every count; a stranger sees one only at or below the product's low-stock threshold,
    as the catalog's "Only 4 left" does (``stock_is_low``). Above it, "not enough in stock".
    """
    if (
        problem.code != "insufficient_stock"
        or problem.available is None
        or problem.low_stock_threshold is None
        or stock_is_low(problem.available, problem.low_stock_threshold)
    ):
        return problem
    message = _shortage_message(problem.sku, problem.requested, None)
    return replace(problem, message=message, available=None)


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
            problems.append(shortage(row, wanted))
    return problems


def return_problems(keys: Iterable[tuple[int, int]], rows: Mapping[tuple[int, int], object]) -> list[Problem]:
    """(product id, location id) pairs that have no inventory row to give stock back to."""
    return [
        Problem("no_inventory", f"Product #{pid} has no inventory row at location #{lid} to return stock to.")
        for pid, lid in keys
        if (pid, lid) not in rows
    ]


def adjustment_problems(sku: str, delta: object, reason: str) -> list[Problem]:
    """Problems of a manual change of ``delta`` units for ``reason`` (``restock`` or ``adjustment``)."""
    problems = []
    if reason not in MANUAL_REASONS:
        problems.append(
            Problem("invalid_reason", f"Reason must be one of: {', '.join(MANUAL_REASONS)}.", sku=sku)
        )
    if not is_whole_number(delta) or delta == 0 or abs(delta) > MAX_ADJUSTMENT:
        problems.append(
            Problem(
                "invalid_delta",
                f"{sku}: the change must be a non-zero whole number "
                f"between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}.",
                sku=sku,
            )
        )
    elif reason == MovementReason.RESTOCK and is_whole_number(delta) and delta < 0:
        problems.append(
            Problem("invalid_delta", f"{sku}: a restock adds stock; use an adjustment to remove it.", sku=sku)
        )
    return problems


def transfer_quantity_problem(sku: str | None, quantity: object) -> Problem | None:
    """A problem if ``quantity`` is not a whole number of units one transfer may move (1 to ``MAX_ADJUSTMENT``)."""
    if is_whole_number(quantity) and 0 < quantity <= MAX_ADJUSTMENT:
        return None
    what = f"{sku}: the quantity to move" if sku else "The quantity to move"
    return Problem("invalid_quantity", f"{what} must be a whole number from 1 to {MAX_ADJUSTMENT}.", sku=sku)


def transfer_problems(sku: str, quantity: object, source: str, target: str) -> list[Problem]:
    """Problems of moving ``quantity`` units of ``sku`` from ``source`` to ``target`` (location codes)."""
    problems = [p for p in (transfer_quantity_problem(sku, quantity),) if p is not None]
    if source == target:
        problems.append(
            Problem(
                "same_location",
                f"{sku}: a transfer goes from one location to another, not to {target}.",
                sku=sku,
            )
        )
    return problems
