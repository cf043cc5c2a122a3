"""The low-stock digest: at most every ``SHOP_LOW_STOCK_DIGEST_MINUTES``, what went low or out, for staff.

It lists each product of the ``stock.low`` and ``stock.out`` events that joined the feed since the
last digest, with its stock on hand, the units held by unpaid (confirmed) orders, and days of cover
from the last 14 days of ``order_placed`` ledger rows. The ``low_stock_digest`` row of
``worker_clock`` remembers the feed position and the time of the last digest; it moves only after
the e-mail went out (at least once: a worker that dies in between sends it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from ..database import commit_unit_of_work
from ..extensions import DbSession, db
from ..holds import SYSTEM_ACTOR
from ..models import (
    InventoryMovement,
    MovementReason,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    utcnow,
)
from . import mail
from .feed import lock_clock
from .models import Event, WorkerClock
from .types import EventType

DIGEST = "low_stock_digest"
SALES_WINDOW_DAYS = 14


@dataclass(frozen=True)
class LowProduct:
    sku: str
    name: str
    on_hand: int
    held: int  # units held by unpaid (confirmed) orders
    sold_per_day: float  # over the last 14 days

    @property
    def cover(self) -> str:
        """Days of cover in words: "about 2 days at 3 a day"."""
        if self.on_hand <= 0:
            return "out of stock"
        if self.sold_per_day <= 0:
            return f"no sales in the last {SALES_WINDOW_DAYS} days"
        days = self.on_hand / self.sold_per_day
        rate = f"{self.sold_per_day:.1f}".removesuffix(".0")
        if days < 1:
            return f"less than a day at {rate} a day"
        whole = round(days)
        return f"about {whole} day{'s' if whole != 1 else ''} at {rate} a day"


def low_products(session: DbSession, skus: list[str], now: datetime) -> list[LowProduct]:
    """The digest's lines for ``skus``, by SKU."""
    since = now - timedelta(days=SALES_WINDOW_DAYS)
    sold = (
        select(func.coalesce(func.sum(-InventoryMovement.delta), 0))
        .where(
            InventoryMovement.product_id == Product.id,
            InventoryMovement.reason == MovementReason.ORDER_PLACED,
            InventoryMovement.created_at >= since,
        )
        .scalar_subquery()
    )
    held = (
        select(func.coalesce(func.sum(OrderItem.quantity), 0))
        .join(Order, Order.id == OrderItem.order_id)
        .where(OrderItem.product_id == Product.id, Order.status == OrderStatus.CONFIRMED)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Product.sku, Product.name, func.coalesce(Product.on_hand, 0), held, sold)
        .where(Product.sku.in_(skus))
        .order_by(Product.sku)
    ).all()
    return [
        LowProduct(sku, name, int(on_hand), int(h), int(s) / SALES_WINDOW_DAYS)
        for sku, name, on_hand, h, s in rows
    ]


def _clock() -> tuple[int, datetime | None] | None:
    clock = lock_clock(db.session, DIGEST)
    return None if clock is None else (clock.number or 0, clock.at)


def send_digest(now: datetime | None = None) -> int:
    """Send the digest if one is due and something went low or out; how many products it listed.

    Three steps, no transaction open while the e-mail goes out: read the clock, send, move the
    clock (only if no other worker moved it meanwhile).
    """
    now = now or utcnow()
    clock = commit_unit_of_work(_clock, actor=SYSTEM_ACTOR)
    if clock is None:
        return 0  # another worker is at it
    last_position, last_at = clock
    if last_at is not None and now - last_at < timedelta(
        minutes=current_app.config["SHOP_LOW_STOCK_DIGEST_MINUTES"]
    ):
        return 0
    try:
        events = db.session.execute(
            select(Event.position, Event.subject)
            .where(Event.position > last_position, Event.type.in_([EventType.STOCK_LOW, EventType.STOCK_OUT]))
            .order_by(Event.position)
        ).all()
        products = low_products(db.session, sorted({subject for _, subject in events}), now) if events else []
        recipients = mail.staff_recipients()
    finally:
        db.session.rollback()  # end the reads
    if not products:
        return 0
    if recipients:
        title = f"Low stock: {len(products)} product{'s' if len(products) != 1 else ''}"
        mail.send(mail.message("low_stock_digest", recipients, title, products=products))
    commit_unit_of_work(
        lambda: db.session.execute(
            update(WorkerClock)
            .where(WorkerClock.name == DIGEST, WorkerClock.number == last_position)
            .values(number=events[-1].position, at=now)
        ),
        actor=SYSTEM_ACTOR,
    )
    return len(products)
