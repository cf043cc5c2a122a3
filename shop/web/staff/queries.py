"""What the staff dashboard reads: one named query per table, figure or export of its pages.

The views parse the request, call these and render; nothing here reads the request or writes.
Statements meant for ``db.paginate`` are returned unexecuted; the others take the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload, undefer

from ...extensions import DbSession
from ...holds import unpaid_holds
from ...models import (
    Inventory,
    InventoryMovement,
    Location,
    Order,
    OrderItem,
    OrderItemAllocation,
    OrderStatus,
    Product,
)
from ...stock import STOCK_IS_LOW

STOCK_SORTS = {
    "sku": Product.sku,
    "name": Product.name,
    "status": Product.status,
    "on_hand": func.coalesce(Product.on_hand, -1),  # not stocked sorts below zero
}
AWAITING_PAYMENT = "awaiting"  # the order list's filter of unpaid holds, beside the statuses
ORDER_FILTERS = frozenset({*OrderStatus, AWAITING_PAYMENT})
ALL_ORDERS = "all"  # the count of the unfiltered list


def stock_table(search: str, sort: str, *, descending: bool, low_only: bool) -> Select[Product]:
    """Products with their stock (``on_hand`` and each location's): SKU or name containing ``search``, only
    low ones if asked, sorted by ``sort``."""
    stmt = select(Product).options(undefer(Product.on_hand), selectinload(Product.stocks))
    if search:
        needle = search.lower()
        stmt = stmt.where(
            or_(
                func.lower(Product.sku).contains(needle, autoescape=True),
                func.lower(Product.name).contains(needle, autoescape=True),
            )
        )
    if low_only:
        stmt = stmt.where(STOCK_IS_LOW)
    column = STOCK_SORTS[sort]
    return stmt.order_by(column.desc() if descending else column.asc(), Product.sku)


def product_ledger(product_id: int) -> Select[InventoryMovement]:
    """A product's ledger rows, newest first, with their orders and locations."""
    return (
        select(InventoryMovement)
        .where(InventoryMovement.product_id == product_id)
        .options(selectinload(InventoryMovement.order), selectinload(InventoryMovement.location))
        .order_by(InventoryMovement.id.desc())
    )


def locations(session: DbSession) -> list[Location]:
    """Every location, in the order orders try them (the stock table's columns, the forms' choices)."""
    return list(session.scalars(select(Location).order_by(Location.priority, Location.code)))


def stock_by_location(session: DbSession, product_id: int) -> list[tuple[Location, int | None]]:
    """Each location with the product's stock there (None: no row there), in the order orders try them."""
    rows = session.execute(
        select(Location, Inventory.quantity)
        .outerjoin(Inventory, (Inventory.location_id == Location.id) & (Inventory.product_id == product_id))
        .order_by(Location.priority, Location.code)
    ).all()
    return [(location, quantity) for location, quantity in rows]


def stock_history(session: DbSession, product_id: int, limit: int) -> list[tuple[datetime, int]]:
    """(time, ``on_hand`` after) of a product's last ``limit`` ledger rows at locations that serve orders,
    oldest first: the chart's points (a running sum of their changes)."""
    running = (
        select(
            InventoryMovement.id,
            InventoryMovement.created_at,
            func.sum(InventoryMovement.delta).over(order_by=InventoryMovement.id).label("on_hand"),
        )
        .join(Location, Location.id == InventoryMovement.location_id)
        .where(InventoryMovement.product_id == product_id, Location.active, Location.fulfils_orders)
        .subquery()
    )
    newest_first = session.execute(
        select(running.c.created_at, running.c.on_hand).order_by(running.c.id.desc()).limit(limit)
    ).all()
    return [(created_at, int(quantity)) for created_at, quantity in reversed(newest_first)]


def units_in_unpaid_holds(session: DbSession, product_id: int) -> int:
    """Units of a product that unpaid holds (live or expired, not released) keep."""
    held = session.scalar(
        unpaid_holds(select(func.coalesce(func.sum(OrderItem.quantity), 0)).join(Order)).where(
            OrderItem.product_id == product_id
        )
    )
    return int(held or 0)


def order_list(status: str | None) -> Select[Order]:
    """Orders with their lines and where they were taken, newest first, of one status; unpaid holds
    soonest to expire first."""
    stmt = select(Order).options(
        selectinload(Order.items).selectinload(OrderItem.product),
        selectinload(Order.items)
        .selectinload(OrderItem.allocations)
        .selectinload(OrderItemAllocation.location),
    )
    if status == AWAITING_PAYMENT:
        return unpaid_holds(stmt).order_by(Order.hold_expires_at, Order.id)
    if status:
        stmt = stmt.where(Order.status == status)
    return stmt.order_by(Order.created_at.desc(), Order.id.desc())


def order_counts(session: DbSession) -> dict[str, int]:
    """Orders per status, unpaid holds (``AWAITING_PAYMENT``, confirmed ones too) and all (``ALL_ORDERS``)."""
    per_status = session.execute(select(Order.status, func.count()).group_by(Order.status))
    counts = {status: int(n) for status, n in per_status}
    counts[ALL_ORDERS] = sum(counts.values())
    counts[AWAITING_PAYMENT] = session.scalar(unpaid_holds(select(func.count()).select_from(Order))) or 0
    return counts


def ledger_export(
    session: DbSession, *, product_id: int | None, start: datetime | None, end: datetime | None, batch: int
) -> Iterator[list]:
    """The CSV's ledger rows (the columns after the id), oldest first, of one product and days if given.

    ``end`` is exclusive. Read in keyset pages of ``batch`` rows: bounded memory, no cursor kept
    open across the response.
    """
    stmt = (
        select(
            InventoryMovement.id,
            InventoryMovement.created_at,
            Product.sku,
            InventoryMovement.delta,
            InventoryMovement.quantity_after,
            InventoryMovement.reason,
            InventoryMovement.actor,
            Order.number,
            InventoryMovement.note,
            Location.code,
        )
        .join(Product, InventoryMovement.product_id == Product.id)
        .join(Location, InventoryMovement.location_id == Location.id)
        .outerjoin(Order, InventoryMovement.order_id == Order.id)
        .order_by(InventoryMovement.id)
        .limit(batch)
    )
    if product_id is not None:
        stmt = stmt.where(InventoryMovement.product_id == product_id)
    if start:
        stmt = stmt.where(InventoryMovement.created_at >= start)
    if end:
        stmt = stmt.where(InventoryMovement.created_at < end)
    last_id = 0
    while rows := session.execute(stmt.where(InventoryMovement.id > last_id)).all():
        for _, *columns in rows:
            yield columns
        last_id = rows[-1].id
