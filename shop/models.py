"""Database models: tables and their constraints (the migrations build the same).

The rules live in services: order statuses in ``shop.orders``, stock in ``shop.stock``, products' fields in
``shop.products``, holds in ``shop.holds``.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from datetime import UTC, datetime
from enum import StrEnum

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    cast,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import Mapped, column_property, mapped_column, query_expression, relationship

from .extensions import Model
from .passwords import hash_password, verify_password


def utcnow() -> datetime:
    """Naive UTC timestamp; every datetime column stores UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def exact_string(length: int):
    """VARCHAR compared byte for byte everywhere (MariaDB's default collation ignores case)."""
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def byte_ordered_string(length: int):
    """VARCHAR compared and sorted by code point everywhere, so that a prefix is one index range."""
    return exact_string(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


class ProductStatus(StrEnum):
    ACTIVE = "active"
    UNAVAILABLE = "unavailable"
    DISCONTINUED = "discontinued"


class OrderStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    PAID = "paid"
    CANCELLED = "cancelled"


class EventType(StrEnum):
    """What the shop tells the world (shop.outbox): the types of its events, version 1."""

    ORDER_PLACED = "order.placed"  # an order first takes stock
    ORDER_PAID = "order.paid"  # an order becomes paid
    ORDER_CANCELLED = "order.cancelled"  # a committed order is cancelled
    STOCK_CHANGED = "stock.changed"  # one per ledger row
    STOCK_LOW = "stock.low"  # a change takes a product to its low-stock threshold or below, above 0
    STOCK_OUT = "stock.out"  # a change takes a product to 0


class MovementReason(StrEnum):
    INITIAL_STOCK = "initial_stock"
    ORDER_PLACED = "order_placed"
    ORDER_CANCELLED = "order_cancelled"
    HOLD_EXPIRED = "hold_expired"
    RESTOCK = "restock"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


DEFAULT_LOCATION = "main"  # the location migration 0009 creates; ``SHOP_DEFAULT_LOCATION`` may name another


def default_location_code() -> str:
    """Where stock goes when no location is named: ``SHOP_DEFAULT_LOCATION`` of the app, else ``main``."""
    return (
        current_app.config.get("SHOP_DEFAULT_LOCATION", DEFAULT_LOCATION)
        if has_app_context()
        else DEFAULT_LOCATION
    )


def default_location_id(context) -> int:
    """The column default of ``location_id``: a stock or ledger row written without a location is at the
    default one, so that code and checks that know nothing of locations keep working."""
    code = default_location_code()
    location_id = context.connection.scalar(select(Location.id).where(Location.code == code))
    if location_id is None:
        raise LookupError(
            f"There is no location {code} (SHOP_DEFAULT_LOCATION): add it with `flask locations add`."
        )
    return location_id


ORDER_NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ORDER_NUMBER_ALPHABET)


def new_order_number() -> str:
    """A random, unguessable order number (80 bits), e.g. ``K7QM-2XPA-9RTD-F3HW``."""
    raw = b32encode(secrets.token_bytes(10)).decode().translate(_FROM_BASE32)  # 16 symbols, 5 bits each
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}-{raw[12:]}"


class Location(Model):
    """A place that keeps stock: a warehouse, a shop floor, a supplier's drop-ship stock."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(exact_string(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(default=0)  # orders are served from lower priorities first
    fulfils_orders: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def serves_orders(self) -> bool:
        """Orders take stock here, and the storefront counts it: active and fulfilling orders."""
        return self.active and self.fulfils_orders

    def __repr__(self) -> str:
        return f"<Location {self.code}>"


class Inventory(Model):
    """A product's stock at one location. Created without a location, it is at the default one
    (``SHOP_DEFAULT_LOCATION``, ``default_location_id``)."""

    __tablename__ = "inventory"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"),
        primary_key=True,
        autoincrement=False,
        default=default_location_id,
    )
    # active_history: the session hook (shop.events) ledgers a direct assignment as the difference
    # from the old value, so the old value is loaded when a new one is assigned.
    quantity: Mapped[int] = mapped_column(default=0, active_history=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(back_populates="stocks")
    location: Mapped[Location] = relationship()

    @property
    def at_default_location(self) -> bool:
        """At the default location, or to be put there when written (no location given)."""
        if self.location_id is None and self.location is None:
            return True
        return self.location.code == default_location_code()

    def __repr__(self) -> str:
        return f"<Inventory product={self.product_id} location={self.location_id} quantity={self.quantity}>"


class Product(Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("low_stock_threshold >= 0", name="threshold_not_negative"),
        CheckConstraint(_in("status", ProductStatus), name="status_valid"),
        CheckConstraint("max_per_order IS NULL OR max_per_order > 0", name="max_per_order_positive"),
        # The storefront lists products by name (shop.search): its pages read the index in order.
        Index("ix_products_name_sku", "name", "sku"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(exact_string(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.ACTIVE)
    low_stock_threshold: Mapped[int] = mapped_column(default=5)
    max_per_order: Mapped[int | None]  # units of this product one order may take; None: no limit
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Units that expired holds not released yet keep: loaded by ``shop.search.with_stock`` (else None).
    expired_hold_units: Mapped[int | None] = query_expression()
    # One row per location that keeps the product (docs/architecture.md, "Stock in several places").
    stocks: Mapped[list[Inventory]] = relationship(back_populates="product", order_by="Inventory.location_id")
    # Units at active locations that fulfil orders: the storefront's figure and the one the stock
    # rules judge orders by; None when no such location keeps the product. Deferred: the queries
    # that show it load it with their products (``shop.search.with_stock``).
    on_hand: Mapped[int | None] = column_property(
        select(cast(func.sum(Inventory.quantity), Integer))  # MariaDB sums to a DECIMAL
        .join(Location, Location.id == Inventory.location_id)
        .where(Inventory.product_id == id, Location.active, Location.fulfils_orders)
        .correlate_except(Inventory, Location)
        .scalar_subquery(),
        deferred=True,
    )

    @property
    def inventory(self) -> Inventory | None:
        """The stock row at the default location: for code that knows of one place only."""
        return next((row for row in self.stocks if row.at_default_location), None)

    @inventory.setter
    def inventory(self, row: Inventory | None) -> None:
        """Put ``row`` at the default location; only a row not yet written can be replaced."""
        current = self.inventory
        if current is not None:
            if inspect(current).persistent:
                raise ValueError("stock that is written changes only through shop.stock")
            self.stocks.remove(current)
        if row is not None:
            self.stocks.append(row)

    def __repr__(self) -> str:
        return f"<Product {self.sku}>"


class ProductSearchTerm(Model):
    """The words a product is found by in the storefront (``shop.search``), kept by the session hook."""

    __tablename__ = "product_search_terms"
    # The primary key finds the products of a word; this index, the words of a product (a renamed
    # product's terms, and the second word of a search checked for the products of the first).
    __table_args__ = (Index("ix_product_search_terms_product_id_term", "product_id", "term"),)

    term: Mapped[str] = mapped_column(byte_ordered_string(64), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)


class Order(Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", OrderStatus), name="status_valid"),
        # Unpaid holds, live or expired (the sweeper, the catalog's expired units, the staff list): a
        # range of confirmed orders only, however many released holds keep their expiry time.
        Index("ix_orders_status_hold_expires_at", "status", "hold_expires_at"),
        # The holds of one client and of one e-mail (shop.hoarding): their keys are kept only while
        # the order is a hold.
        Index("ix_orders_client_address_hold_expires_at", "client_address", "hold_expires_at"),
        Index("ix_orders_client_email_hash_hold_expires_at", "client_email_hash", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(exact_string(32), unique=True, default=new_order_number)
    # active_history: the session hook sees an ORM write of the status as (old, new) and ignores
    # re-saving the same one; the transition itself is judged against the row as locked (shop.orders).
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.DRAFT, active_history=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254))
    stock_committed_at: Mapped[datetime | None]
    # A customer's confirmed order holds its stock until then, unless paid (docs/architecture.md).
    hold_expires_at: Mapped[datetime | None]
    # The client (shop.clients) whose hold this is, and the key of its e-mail (shop.clients.email_key),
    # while it is one: both cleared when it is paid or cancelled.
    client_address: Mapped[str | None] = mapped_column(String(64))
    client_email_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )

    def __init__(self, **kwargs):
        # Known before the INSERT, so the stock rules and callers can use them.
        kwargs.setdefault("status", OrderStatus.DRAFT)
        kwargs.setdefault("number", new_order_number())
        super().__init__(**kwargs)

    @property
    def total_cents(self) -> int:
        return sum(item.line_total_cents for item in self.items)

    def __repr__(self) -> str:
        return f"<Order {self.number} {self.status}>"


class OrderItem(Model):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int]
    # Copied from the product's price when the line is checked, if not given (shop.stock.check_lines).
    unit_price_cents: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()
    allocations: Mapped[list[OrderItemAllocation]] = relationship(
        back_populates="item", order_by="OrderItemAllocation.location_id"
    )

    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class HoldClient(Model):
    """A client that placed a hold: its row is locked while a checkout counts the units it holds.

    Two checkouts of one client then count one after the other (``shop.hoarding``), each seeing the
    other's hold. A client is an address (``shop.clients.client_of``) or an e-mail (``email:`` and
    its key). ``last_hold_at`` lets the worker forget clients whose holds are all over.
    """

    __tablename__ = "hold_clients"

    client: Mapped[str] = mapped_column(String(70), primary_key=True)
    # Not indexed: the hourly purge reads this small table whole, and each checkout updates the row
    # (on PostgreSQL a heap-only update while no index covers the column).
    last_hold_at: Mapped[datetime]


class OrderItemAllocation(Model):
    """Where a line's stock was taken: once an order took stock, its lines' allocations add up to them."""

    __tablename__ = "order_item_allocations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("order_item_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id", ondelete="RESTRICT"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    quantity: Mapped[int]

    item: Mapped[OrderItem] = relationship(back_populates="allocations")
    location: Mapped[Location] = relationship()


class InventoryMovement(Model):
    """Append-only stock ledger: for every product, SUM(delta) == inventory.quantity."""

    __tablename__ = "inventory_movements"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        CheckConstraint("quantity_after >= 0", name="quantity_after_not_negative"),
        CheckConstraint(_in("reason", MovementReason), name="reason_valid"),
        # A transfer's two rows, and only they, carry the id they share.
        CheckConstraint(
            "(transfer_id IS NOT NULL) = (reason IN ('transfer_out', 'transfer_in'))", name="transfer_has_id"
        ),
        # No order can take or return the same product's stock at one location twice.
        UniqueConstraint("order_id", "product_id", "location_id", "reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), default=default_location_id
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    delta: Mapped[int]
    quantity_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(254))
    note: Mapped[str | None] = mapped_column(String(500))
    transfer_id: Mapped[str | None] = mapped_column(exact_string(32))  # trf_ + a ULID, on both rows
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship()
    location: Mapped[Location] = relationship()
    order: Mapped[Order | None] = relationship()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(exact_string(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_staff: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every session cookie of this account (``get_id``); a new value (log-out, new
    # password, disabling) makes every earlier cookie useless. Flask-Login's "alternative token".
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    disabled_at: Mapped[datetime | None]  # set by `flask staff disable`: no log-in, no session, no token

    def set_password(self, password: str) -> None:
        """A new password (argon2id); every session of the account ends."""
        self.password_hash = hash_password(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password).ok

    def end_sessions(self) -> None:
        """Make every session cookie issued so far useless: they carry the old token."""
        self.session_token = new_session_token()

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie: the id and the account's current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login's login_user refuses inactive accounts
        return self.disabled_at is None


class Payment(Model):
    """A payment notification that was acted on: the order it paid (one row per provider payment)."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[str] = mapped_column(exact_string(100), unique=True)  # the provider's id
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()
