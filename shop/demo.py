"""The demo catalog behind ``flask seed-demo`` and ``make run``."""

from __future__ import annotations

from sqlalchemy import select

from .extensions import DbSession
from .models import Inventory, Product, ProductStatus

# sku, name, price in cents, stock (None: not stocked), status
DEMO_CATALOG = [
    ("TEA-SENCHA", "Sencha green tea, 100 g", 1250, 40, ProductStatus.ACTIVE),
    ("TEA-ASSAM", "Assam breakfast tea, 250 g", 990, 25, ProductStatus.ACTIVE),
    ("TEA-EARLGREY", "Earl Grey, loose leaf, 100 g", 1090, 3, ProductStatus.ACTIVE),
    ("TEA-MATCHA", "Ceremonial matcha, 30 g", 2890, 2, ProductStatus.ACTIVE),
    ("TEA-ROOIBOS", "Rooibos vanilla, 100 g", 850, 0, ProductStatus.ACTIVE),
    ("CUP-STONE", "Stoneware cup, 200 ml", 1800, 12, ProductStatus.ACTIVE),
    ("POT-CAST", "Cast-iron teapot, 0.8 l", 5900, 4, ProductStatus.ACTIVE),
    ("KETTLE-GOOSE", "Gooseneck kettle", 7400, 6, ProductStatus.UNAVAILABLE),
    ("SCALE-MINI", "Pocket tea scale", 2400, 5, ProductStatus.DISCONTINUED),
    ("STRAINER-MESH", "Fine mesh strainer", 650, 60, ProductStatus.ACTIVE),
    ("GIFT-BOX", "Gift box (made to order)", 1500, None, ProductStatus.ACTIVE),
]


def seed_demo_catalog(session: DbSession) -> int:
    """Add the demo products that are missing; return how many were added."""
    existing = set(session.scalars(select(Product.sku)))
    added = 0
    for sku, name, price, quantity, status in DEMO_CATALOG:
        if sku in existing:
            continue
        product = Product(sku=sku, name=name, price_cents=price, status=status)
        if quantity is not None:
            product.inventory = Inventory(quantity=quantity)
        session.add(product)
        added += 1
    session.flush()
    return added
