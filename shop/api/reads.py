"""The API's queries: pages of products and of a product's ledger (a product by SKU: ``shop.products``).

Reads only: nothing here writes, commits or knows about requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from ..extensions import db
from ..models import InventoryMovement, Order, Product
from ..search import with_stock


def product_page(page: int, per_page: int) -> tuple[int, Sequence[Product]]:
    """How many products there are, and one page of them by SKU, with their stock (``with_stock``)."""
    total = db.session.scalar(select(func.count()).select_from(Product)) or 0
    products = db.session.scalars(
        with_stock().order_by(Product.sku).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return total, products


def movement_page(
    product_id: int, page: int, per_page: int
) -> tuple[int, list[tuple[InventoryMovement, str | None]]]:
    """How many ledger rows a product has, and one page of them, newest first, with their order's number."""
    where = InventoryMovement.product_id == product_id
    total = db.session.scalar(select(func.count()).select_from(InventoryMovement).where(where)) or 0
    rows = db.session.execute(
        select(InventoryMovement, Order.number)
        .outerjoin(Order, Order.id == InventoryMovement.order_id)
        .where(where)
        .order_by(InventoryMovement.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return total, [(movement, number) for movement, number in rows]
