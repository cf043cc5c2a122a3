"""The API's queries: pages of products and of a product's ledger (a product by SKU: ``shop.products``).

Reads only: nothing here writes, commits or knows about requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Inventory, InventoryMovement, Location, Order, OrderItem, OrderItemAllocation, Product
from ..search import with_stock
from .schemas import AllocationOut


def product_page(page: int, per_page: int) -> tuple[int, Sequence[Product]]:
    """How many products there are, and one page of them by SKU, with their stock (``with_stock``) per location."""
    total = db.session.scalar(select(func.count()).select_from(Product)) or 0
    products = db.session.scalars(
        with_stock()
        .options(selectinload(Product.stocks).joinedload(Inventory.location))
        .order_by(Product.sku)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return total, products


def movement_page(
    product_id: int, page: int, per_page: int
) -> tuple[int, list[tuple[InventoryMovement, str | None, str]]]:
    """How many ledger rows a product has, and one page of them, newest first, with their order's number
    and their location's code."""
    where = InventoryMovement.product_id == product_id
    total = db.session.scalar(select(func.count()).select_from(InventoryMovement).where(where)) or 0
    rows = db.session.execute(
        select(InventoryMovement, Order.number, Location.code)
        .join(Location, Location.id == InventoryMovement.location_id)
        .outerjoin(Order, Order.id == InventoryMovement.order_id)
        .where(where)
        .order_by(InventoryMovement.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return total, [(movement, number, code) for movement, number, code in rows]


def order_allocations(order: Order) -> dict[int, list[AllocationOut]]:
    """Where each line of ``order`` took its units (by order line id), in one statement."""
    rows = db.session.execute(
        select(OrderItemAllocation.order_item_id, Location.code, OrderItemAllocation.quantity)
        .join(Location, Location.id == OrderItemAllocation.location_id)
        .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItemAllocation.order_item_id, Location.priority, Location.code)
    )
    allocations: dict[int, list[AllocationOut]] = {}
    for item_id, code, quantity in rows:
        allocations.setdefault(item_id, []).append(AllocationOut(location=code, quantity=quantity))
    return allocations
