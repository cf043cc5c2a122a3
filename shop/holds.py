"""Holds: a customer's confirmed order keeps its stock until ``hold_expires_at``, then it is released.

One code path releases a hold, ``release_hold``: the order becomes ``cancelled`` through
``orders.move_locked_order`` and the observer gives its stock back, one ``hold_expired`` ledger
row per product, by the actor ``system``. Three triggers call it:

- ``flask orders expire-holds`` and the staff dashboard (``release_expired_holds``);
- a checkout refused for stock that expired holds keep (``commit_checkout``);
- a payment notification for an expired hold (``shop.payments``).

Reads never release anything: pages and the API show an expired hold as expired
(``hold_state``) until one of these runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from flask import current_app
from sqlalchemy import DateTime, ScalarSelect, Select, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from . import orders, stock
from .database import commit_unit_of_work
from .errors import InventoryError
from .extensions import DbSession, db
from .models import MovementReason, Order, OrderItem, OrderStatus, Product, utcnow

T = TypeVar("T")
S = TypeVar("S", bound=Select)
SYSTEM_ACTOR = "system"
BATCH = 100  # holds released per transaction by the sweeper


def hold_until(now: datetime | None = None) -> datetime:
    """When a hold placed now expires (``SHOP_HOLD_MINUTES`` from now)."""
    return (now or utcnow()) + timedelta(minutes=current_app.config["SHOP_HOLD_MINUTES"])


class HoldState(StrEnum):
    """Where an order's hold stands; pages, the API and the CLI each say it in their words."""

    NONE = "none"  # not a hold: a staff order, a draft, a paid order, a cancellation that was no release
    LIVE = "live"  # confirmed and ``hold_expires_at`` still ahead: it can be paid
    EXPIRED = "expired"  # confirmed and run out, not released yet (reading never releases)
    RELEASED = "released"  # cancelled when it ran out: its stock came back as ``hold_expired``

    @property
    def ran_out(self) -> bool:
        """Expired, released or not (the API's ``hold_expired``)."""
        return self in (HoldState.EXPIRED, HoldState.RELEASED)


def hold_state(order: Order, now: datetime | None = None) -> HoldState:
    """Where ``order``'s hold stands at ``now``; every reader of one order asks this (SQL: ``expired_holds``).

    A cancelled order keeps its ``hold_expires_at`` only when it was released (``shop.observer``
    clears it on payment and on any other cancellation).
    """
    until = order.hold_expires_at
    if until is None:
        return HoldState.NONE
    if order.status == OrderStatus.CANCELLED:
        return HoldState.RELEASED
    if order.status != OrderStatus.CONFIRMED:
        return HoldState.NONE
    return HoldState.EXPIRED if until < (now or utcnow()) else HoldState.LIVE


def is_expired(order: Order, now: datetime | None = None) -> bool:
    """A confirmed order whose hold has run out and is not released yet."""
    return hold_state(order, now) is HoldState.EXPIRED


def unpaid_holds(stmt: S) -> S:
    """Only unpaid holds (``LIVE`` or ``EXPIRED``): confirmed orders with an expiry."""
    return stmt.where(Order.status == OrderStatus.CONFIRMED, Order.hold_expires_at.is_not(None))


def _expired(stmt: S, now) -> S:
    """Only expired holds (``EXPIRED``): unpaid holds whose time ran out before ``now``."""
    return unpaid_holds(stmt).where(Order.hold_expires_at < now)


def expired_holds(now: datetime, skus: Collection[str] | None = None) -> Select[Order]:
    """Expired holds (``EXPIRED`` in SQL), oldest first; only those with a line of one of ``skus`` when given."""
    stmt = _expired(select(Order), now)
    if skus is not None:
        on_products = select(OrderItem.order_id).join(Product).where(Product.sku.in_(list(skus)))
        stmt = stmt.where(Order.id.in_(on_products))
    return stmt.order_by(Order.hold_expires_at, Order.id)


def expired_hold_units() -> ScalarSelect[int]:
    """The units of a product (correlated with ``Product``) that expired holds keep until they are released.

    Now is read when the statement runs (a bound callable), so statements built once stay right. A
    subquery of its own, not a join, so that it stays valid when the ORM refreshes a product it loaded
    with it (``shop.search.with_stock``); it reads the holds that ran out and await release, one range
    of ``ix_orders_status_hold_expires_at``.
    """
    now = bindparam("expired_before", callable_=utcnow, type_=DateTime())
    units = select(func.coalesce(func.sum(OrderItem.quantity), 0)).join(Order)
    return _expired(units, now).where(OrderItem.product_id == Product.id).correlate(Product).scalar_subquery()


def units_on_offer(product: Product) -> int | None:
    """What a customer can order of ``product`` now: its stock plus what its expired holds keep (None: not stocked).

    An expired hold never refuses a buyer: the checkout releases it (``commit_checkout``), so its
    units count as available everywhere a customer is told or refused before that. Needs the product
    loaded by ``shop.search.with_stock`` (without it, the expired units are taken as none).
    """
    if product.on_hand is None:
        return None
    return product.on_hand + (product.expired_hold_units or 0)


def _live_units_where(key: InstrumentedAttribute[str | None], value: str) -> ScalarSelect[int]:
    """The units of the live holds whose ``key`` column is the bound ``value``: one range of its index."""
    units = unpaid_holds(select(func.coalesce(func.sum(OrderItem.quantity), 0)).join(Order))
    return units.where(key == bindparam(value), Order.hold_expires_at >= bindparam("now")).scalar_subquery()


_UNITS_HELD_BY_CLIENT = select(
    _live_units_where(Order.client_address, "client"), _live_units_where(Order.client_email_hash, "email")
)


def units_held_by(session: DbSession, client: str, email_hash: str | None, now: datetime) -> tuple[int, int]:
    """Units in the live holds (``LIVE`` in SQL) of ``client``, and of the e-mail key ``email_hash`` (none if None).

    One statement, one range of an index for each.
    """
    by_client, by_email = session.execute(
        _UNITS_HELD_BY_CLIENT, {"client": client, "email": email_hash, "now": now}
    ).one()
    return int(by_client or 0), int(by_email or 0)  # MariaDB sums into a DECIMAL


def release_hold(session: DbSession, order: Order) -> None:
    """Cancel an expired hold the caller has locked; its stock comes back as ``hold_expired``."""
    orders.move_locked_order(
        session,
        order,
        OrderStatus.CONFIRMED,
        OrderStatus.CANCELLED,
        actor=SYSTEM_ACTOR,
        reason=MovementReason.HOLD_EXPIRED,
    )


@dataclass(frozen=True)
class Released:
    orders: int = 0
    units: int = 0

    def __add__(self, other: Released) -> Released:
        return Released(self.orders + other.orders, self.units + other.units)


def release_batch(
    session: DbSession, now: datetime, *, limit: int, skus: Collection[str] | None = None, wait: bool = False
) -> Released:
    """Claim up to ``limit`` expired holds and release them, in the caller's transaction.

    Holds another process has claimed are skipped (``SKIP LOCKED`` on PostgreSQL and MariaDB;
    SQLite's write lock serialises sweepers), unless ``wait``: then this waits for that process
    to finish, and finds them released. The inventory rows of the whole batch (every location of
    every product) are locked first, in one statement in (product, location) order, so that the
    batch cannot deadlock with checkouts that lock the same rows.
    """
    claim = (
        expired_holds(now, skus)
        .limit(limit)
        .with_for_update(skip_locked=not wait)
        .options(selectinload(Order.items))
        .execution_options(populate_existing=True)
    )
    claimed = session.scalars(claim).all()
    if not claimed:
        return Released()
    stock.lock_rows(session, {item.product_id for order in claimed for item in order.items})
    for order in claimed:
        release_hold(session, order)
    return Released(len(claimed), sum(item.quantity for order in claimed for item in order.items))


def release_expired_holds(
    *,
    limit: int | None = None,
    skus: Collection[str] | None = None,
    now: datetime | None = None,
    wait: bool = False,
) -> Released:
    """Release every expired hold (at most ``limit``), ``BATCH`` per transaction; safe to run concurrently.

    Holds that another process is releasing are left to it, unless ``wait`` (see ``release_batch``).
    """
    now = now or utcnow()
    released = Released()
    while limit is None or released.orders < limit:
        size = BATCH if limit is None else min(BATCH, limit - released.orders)

        def work(size: int = size) -> Released:
            return release_batch(db.session, now, limit=size, skus=skus, wait=wait)

        batch = commit_unit_of_work(work, actor=SYSTEM_ACTOR)
        released += batch
        if batch.orders < size:
            break
    return released


def commit_checkout(place: Callable[[], T], *, actor: str) -> T:
    """Commit a checkout; if stock that expired holds keep is short, release them and try once more.

    An expired hold never refuses a buyer, even while a sweeper is releasing it (this waits for
    the sweeper). While nothing has expired this costs nothing on the way to a placed order, and
    one query on the way to a refusal.
    """
    return commit_unit_of_work(place, actor=actor, recover=release_holds_keeping)


def release_holds_keeping(refusal: InventoryError) -> bool:
    """Release the expired holds that keep stock the refused order was short of; True if there were any."""
    short = {p.sku for p in refusal.problems if p.code == "insufficient_stock" and p.sku}
    if not short or not _any_expired(short):
        return False
    release_expired_holds(skus=short, wait=True)
    return True


def _any_expired(skus: Collection[str]) -> bool:
    try:
        return bool(db.session.scalar(select(expired_holds(utcnow(), skus).exists())))
    finally:
        db.session.rollback()  # end the read: the release below runs in units of work of its own
