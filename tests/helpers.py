"""Small readers used by the tests: they always go to the database, never the identity map."""

from sqlalchemy import func, select

from shop.models import Inventory, InventoryMovement, Order, OrderItem, Product


def stock_of(session, sku):
    return session.scalar(select(Inventory.quantity).join(Product).where(Product.sku == sku))


def movements(session, sku=None, reason=None):
    stmt = select(InventoryMovement).join(Product).order_by(InventoryMovement.id)
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if reason:
        stmt = stmt.where(InventoryMovement.reason == reason)
    return session.scalars(stmt).all()


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def counts(session):
    """Rows in the tables an order writes to: a refused order changes none of them."""
    return {m.__tablename__: count(session, m) for m in (Order, OrderItem, InventoryMovement)}


def order_of(session, *lines, status="confirmed"):
    """A new order for (product, quantity) lines, not yet added to the session."""
    return Order(
        status=status,
        customer_name="Ada",
        customer_email="ada@example.com",
        items=[OrderItem(product=p, quantity=q) for p, q in lines],
    )
