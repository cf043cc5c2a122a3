"""The demo shop behind ``flask seed-demo`` and ``make run``: a warehouse, a shop floor and a catalog."""

from __future__ import annotations

from sqlalchemy import select

from .extensions import DbSession
from .locations import add_location, find_location
from .models import DEFAULT_LOCATION, Inventory, Location, Product, ProductStatus

WAREHOUSE = "Warehouse"  # what the demo calls location main (migration 0009 names it Main)
SHOP_FLOOR = ("floor", "Shop floor", 1)  # code, name, priority: orders take from the warehouse first

# sku, name, price in cents, stock in the warehouse and on the shop floor (None: not stocked), status
DEMO_CATALOG = [
    ("TEA-SENCHA", "Sencha green tea, 100 g", 1250, (30, 10), ProductStatus.ACTIVE),
    ("TEA-ASSAM", "Assam breakfast tea, 250 g", 990, (20, 5), ProductStatus.ACTIVE),
    ("TEA-EARLGREY", "Earl Grey, loose leaf, 100 g", 1090, (3, 0), ProductStatus.ACTIVE),
    ("TEA-MATCHA", "Ceremonial matcha, 30 g", 2890, (2, 0), ProductStatus.ACTIVE),
    ("TEA-ROOIBOS", "Rooibos vanilla, 100 g", 850, (0, 0), ProductStatus.ACTIVE),
    ("CUP-STONE", "Stoneware cup, 200 ml", 1800, (8, 4), ProductStatus.ACTIVE),
    ("POT-CAST", "Cast-iron teapot, 0.8 l", 5900, (2, 2), ProductStatus.ACTIVE),
    ("KETTLE-GOOSE", "Gooseneck kettle", 7400, (6, 0), ProductStatus.UNAVAILABLE),
    ("SCALE-MINI", "Pocket tea scale", 2400, (5, 0), ProductStatus.DISCONTINUED),
    ("STRAINER-MESH", "Fine mesh strainer", 650, (45, 15), ProductStatus.ACTIVE),
    ("GIFT-BOX", "Gift box (made to order)", 1500, None, ProductStatus.ACTIVE),
]


def demo_locations(session: DbSession) -> tuple[Location, Location]:
    """The warehouse (location ``main``, renamed while it keeps the migration's name) and the shop floor."""
    warehouse = find_location(session, DEFAULT_LOCATION) or add_location(session, DEFAULT_LOCATION, WAREHOUSE)
    if warehouse.name == "Main":
        warehouse.name = WAREHOUSE
    code, name, priority = SHOP_FLOOR
    floor = find_location(session, code) or add_location(session, code, name, priority=priority)
    return warehouse, floor


def seed_demo_catalog(session: DbSession) -> int:
    """Add the demo locations and the demo products that are missing; return how many products were added."""
    warehouse, floor = demo_locations(session)
    existing = set(session.scalars(select(Product.sku)))
    added = 0
    for sku, name, price, quantities, status in DEMO_CATALOG:
        if sku in existing:
            continue
        product = Product(sku=sku, name=name, price_cents=price, status=status)
        if quantities is not None:
            in_warehouse, on_floor = quantities
            product.stocks.append(Inventory(location=warehouse, quantity=in_warehouse))
            if on_floor:
                product.stocks.append(Inventory(location=floor, quantity=on_floor))
        session.add(product)
        added += 1
    session.flush()
    return added
