"""The plain Flask port: the requirement's Laravel observer carried over line by line to Flask-SQLAlchemy.

What a careful developer writes from the requirement alone: the same five tables with their
constraints (``CHECK (quantity >= 0)`` on the stock), and one ORM hook in the place of Laravel's
order observer. When the session flushes a new order in a committing status, the hook takes each
line (in product order, so that two orders never lock the same rows in opposite orders): it loads
the inventory row with ``SELECT ... FOR UPDATE``, checks it, decrements the attribute and adds a
ledger object, all written by that flush; then the caller commits. A line that cannot be served
raises, and the caller rolls the whole order back.

The hook is ``before_flush``: in ``after_flush`` (closer to Laravel's ``created``), SQLAlchemy
discards the decremented attribute with an SAWarning, and the stock is never taken.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CheckConstraint, ForeignKey, String, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
COMMITTING = ("confirmed", "paid")


def utcnow() -> datetime:
    """Naive UTC, as the shop stores timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


class Product(db.Model):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="active")


class Inventory(db.Model):
    __tablename__ = "inventory"
    __table_args__ = (CheckConstraint("quantity >= 0"),)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Order(db.Model):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(8))
    status: Mapped[str] = mapped_column(String(16))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    items: Mapped[list[OrderItem]] = relationship(back_populates="order")


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    unit_price_cents: Mapped[int]
    order: Mapped[Order] = relationship(back_populates="items")


class InventoryMovement(db.Model):
    __tablename__ = "inventory_movements"
    __table_args__ = (CheckConstraint("quantity_after >= 0"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    delta: Mapped[int]
    quantity_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    order: Mapped[Order | None] = relationship()


class InsufficientStock(Exception):
    """A line of the order cannot be served; the order must not be written."""


@event.listens_for(db.session, "before_flush")
def take_stock(session, flush_context, instances) -> None:
    """The observer: new orders in a committing status take their lines' stock in the same flush."""
    for order in [o for o in session.new if isinstance(o, Order) and o.status in COMMITTING]:
        for item in sorted(order.items, key=lambda i: i.product_id):
            inventory = session.scalars(
                select(Inventory)
                .where(Inventory.product_id == item.product_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            if inventory is None or inventory.quantity < item.quantity:
                raise InsufficientStock(f"product {item.product_id}: not enough stock")
            inventory.quantity -= item.quantity
            session.add(
                InventoryMovement(
                    product_id=item.product_id,
                    order=order,
                    delta=-item.quantity,
                    quantity_after=inventory.quantity,
                    reason="order_placed",
                    actor="bench",
                )
            )


def place_order(
    lines: list[tuple[str, int]], *, status: str, customer_name: str, customer_email: str
) -> Order:
    """Write an order of (sku, quantity) lines and commit; the hook takes the stock in the same transaction."""
    skus = [sku for sku, _ in lines]
    products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(skus)))}
    unknown = [sku for sku in skus if sku not in products or products[sku].status != "active"]
    if unknown:
        raise ValueError(f"unknown or unavailable products: {unknown}")
    order = Order(status=status, customer_name=customer_name, customer_email=customer_email)
    for sku, quantity in lines:
        product = products[sku]
        order.items.append(
            OrderItem(product_id=product.id, quantity=quantity, unit_price_cents=product.price_cents)
        )
    db.session.add(order)
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return order


def create_app(database_url: str) -> Flask:
    """The port's app: Flask-SQLAlchemy on ``database_url``, nothing else."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    db.init_app(app)
    return app
