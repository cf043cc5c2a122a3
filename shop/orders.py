"""Order services: place an order, change its status, find it. Every edge (web, API, CLI) calls these.

The status rules live here too: which statuses take stock, which moves are allowed, and the
order-row lock that makes concurrent changes of one order go one at a time. The stock itself
moves in ``shop.observer`` (on ``order_created`` and ``order_status_changed``), through
``shop.stock``. See docs/architecture.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, inspect, select, text, update
from sqlalchemy.orm import attributes, make_transient_to_detached, selectinload

from . import signals, stock
from .database import next_sqlite_order_item_ids
from .errors import InvalidStatusTransition, InventoryError, OrderLocked, Problem
from .extensions import DbSession
from .models import MovementReason, Order, OrderItem, OrderStatus, Product, utcnow

COMMITTING: frozenset[str] = frozenset({OrderStatus.CONFIRMED, OrderStatus.PAID})
TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.DRAFT: {OrderStatus.CONFIRMED, OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.CONFIRMED: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.CANCELLED},
    OrderStatus.CANCELLED: set(),
}
ORDER_NUMBER = re.compile(r"[A-Z0-9-]{1,32}")

# Statements built once.
_PRODUCTS_BY_SKU = select(Product).where(Product.sku.in_(bindparam("skus", expanding=True)))
_LOCK_ORDER = (
    select(Order.status, Order.stock_committed_at, Order.hold_expires_at)
    .where(Order.id == bindparam("id"))
    .with_for_update()
)
_ORDER_BY_NUMBER = select(Order).options(selectinload(Order.items).selectinload(OrderItem.product))


# -- status rules ------------------------------------------------------------------------------


def check_status(status: str) -> None:
    if status not in TRANSITIONS:
        raise InventoryError(
            [
                Problem(
                    "invalid_status",
                    f"Unknown order status {status!r}; use one of: " + ", ".join(TRANSITIONS) + ".",
                )
            ]
        )


def check_transition(old: str, new: str) -> None:
    """Raise ``InvalidStatusTransition`` unless the rules allow ``old → new``."""
    check_status(new)
    if new not in TRANSITIONS.get(old, set()):
        raise InvalidStatusTransition(old, new)


def lock_order(session: DbSession, order: Order) -> str:
    """Lock the order's row and return its status as committed; refresh what the rules read.

    Concurrent status changes or line edits of one order then go one at a time, each seeing
    the other's result: two cancellations cannot both return the stock.
    """
    status, committed_at, hold_expires_at = session.execute(_LOCK_ORDER, {"id": order.id}).one()
    attributes.set_committed_value(order, "stock_committed_at", committed_at)
    attributes.set_committed_value(order, "hold_expires_at", hold_expires_at)
    state = inspect(order)
    if not state.attrs["status"].history.has_changes():  # a pending ORM write keeps its new value
        attributes.set_committed_value(order, "status", status)
    if not state.attrs["items"].history.has_changes():
        session.expire(order, ["items"])  # reloaded on use, as committed by whoever held the lock
    return status


def ensure_lines_editable(session: DbSession, order: Order) -> None:
    """Lines of an order that has taken stock are frozen; draft lines are checked like new ones."""
    lock_order(session, order)
    if order.stock_committed_at is not None:
        raise OrderLocked(order.number)
    stock.check_lines(session, order, taking=False)


def ensure_deletable(order: Order) -> None:
    if order.stock_committed_at is not None:
        raise OrderLocked(order.number, "it cannot be deleted")


# -- finding -----------------------------------------------------------------------------------


def find_order(session: DbSession, number: str) -> Order | None:
    """The order with this number (as typed: case and spaces forgiven), lines and products loaded."""
    number = number.strip().upper()
    if not ORDER_NUMBER.fullmatch(number):
        return None
    return session.scalar(_ORDER_BY_NUMBER.where(Order.number == number))


# -- placing -----------------------------------------------------------------------------------


def customer_problems(name: str | None, email: str | None) -> list[Problem]:
    problems = []
    if not name or not name.strip() or len(name) > 200:
        problems.append(Problem("invalid_customer", "Customer name is required (at most 200 characters)."))
    if not email or "@" not in email or len(email) > 254 or any(c.isspace() for c in email.strip()):
        problems.append(Problem("invalid_customer", "A valid customer e-mail address is required."))
    return problems


def place_order(
    session: DbSession,
    lines: Iterable[tuple[str, object]],
    *,
    status: str,
    customer_name: str | None,
    customer_email: str | None,
    number: str | None = None,
    hold_until: datetime | None = None,
    client: str | None = None,
    client_email_hash: str | None = None,
    default_max_per_order: int | None = None,
    problems: Iterable[Problem] = (),
) -> Order:
    """Write an order for ``(sku, quantity)`` lines and send ``order_created``: the observer takes its stock.

    Raises an ``InventoryError`` listing every problem (unknown SKUs, bad quantities,
    unavailable products, shortages, bad customer details, and the ``problems`` the caller found);
    nothing is written then. A ``number`` chosen in advance (by a checkout form) makes a repeated
    submission fail on the unique order number instead of placing a second order. ``hold_until``
    makes a customer's ``confirmed`` order a hold that expires then (``shop.holds``), kept with its
    ``client`` and ``client_email_hash`` while it is one; other statuses ignore them. A customer's
    order passes ``default_max_per_order`` (``shop.hoarding.place_customer_order`` does all of that).

    The order and its lines are written with Core INSERTs instead of an ORM flush (a third
    of the CPU an order costs; docs/architecture.md). Everything else is as for an order written
    through the ORM: the same line checks (``stock.check_lines``), the same ``order_created``
    signal to the same observer in the same transaction, and the objects returned are the
    session's, persistent and loaded. ``tests/test_place_order_paths.py`` holds the two ways
    to identical rows.
    """
    lines = list(lines)
    check_status(status)
    skus = list({sku for sku, _ in lines})
    products = {p.sku: p for p in session.scalars(_PRODUCTS_BY_SKU, {"skus": skus})}
    problems = [*customer_problems(customer_name, customer_email), *problems]
    for sku in dict.fromkeys(sku for sku, _ in lines if sku not in products):
        problems.append(Problem("unknown_product", f"There is no product {sku}.", sku=sku))
    is_hold = status == OrderStatus.CONFIRMED and hold_until is not None
    order = Order(
        **({"number": number} if number else {}),
        status=status,
        hold_expires_at=hold_until if is_hold else None,
        client_address=client if is_hold else None,
        client_email_hash=client_email_hash if is_hold else None,
        customer_name=(customer_name or "").strip(),
        customer_email=(customer_email or "").strip(),
        items=[OrderItem(product=products[sku], quantity=qty) for sku, qty in lines if sku in products],
    )
    # Raises listing every problem, those found above and those of the lines (stock included).
    stock.check_lines(
        session,
        order,
        taking=status in COMMITTING,
        problems=problems,
        default_max_per_order=default_max_per_order,
    )
    _insert(session, order)
    signals.order_created.send(signals.sender(), order=order, actor=stock.actor_of(session))
    return order


_ORDER_COLUMNS = (
    "number",
    "status",
    "customer_name",
    "customer_email",
    "stock_committed_at",
    "hold_expires_at",
    "client_address",
    "client_email_hash",
    "created_at",
    "updated_at",
)
# Core tables, not the mapped classes: an INSERT of a mapped class runs the ORM's bulk machinery.
_ORDERS, _LINES = cast(Table, Order.__table__), cast(Table, OrderItem.__table__)
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_INSERT_LINES = insert(_LINES)
_INSERT_LINES_RETURNING = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)
# PostgreSQL: the order and its lines in one statement. The lines are inserted in their order
# (ORDER BY n), so their identity values are drawn in that order and their ids, sorted, are the
# lines in order: what SQLAlchemy's sort_by_parameter_order relies on for PostgreSQL.
_PG_INSERT_ORDER_AND_LINES = text("""WITH new_order AS (
    INSERT INTO orders (number, status, customer_name, customer_email, stock_committed_at,
                        hold_expires_at, client_address, client_email_hash, created_at, updated_at)
    VALUES (:number, :status, :customer_name, :customer_email, CAST(:stock_committed_at AS timestamp),
            CAST(:hold_expires_at AS timestamp), CAST(:client_address AS varchar),
            CAST(:client_email_hash AS varchar), :created_at, :updated_at)
    RETURNING id
), new_lines AS (
    INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
    SELECT new_order.id, line.product_id, line.quantity, line.unit_price_cents
    FROM new_order,
         unnest(CAST(:product_ids AS integer[]), CAST(:quantities AS integer[]), CAST(:prices AS integer[]))
             WITH ORDINALITY AS line (product_id, quantity, unit_price_cents, n)
    ORDER BY line.n
    RETURNING id
)
SELECT new_order.id, ARRAY(SELECT id FROM new_lines ORDER BY id) FROM new_order""")


def _insert(session: DbSession, order: Order) -> None:
    """INSERT the order and its lines; they become persistent in the session without a flush.

    PostgreSQL: one statement for both. Elsewhere, one for the order and one for the lines,
    whatever their number: MariaDB returns their ids in order; SQLite cannot, so the ids are
    handed out under the unit of work's write lock (``shop.database.next_sqlite_order_item_ids``),
    as for an ORM flush.
    """
    now = utcnow()
    order.created_at = order.updated_at = now
    record_status(order, None, order.status, now=now)
    values = {c: getattr(order, c) for c in _ORDER_COLUMNS}
    lines = [(item.product.id, item.quantity, item.unit_price_cents) for item in order.items]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        columns = {
            "product_ids": [product_id for product_id, _, _ in lines],
            "quantities": [quantity for _, quantity, _ in lines],
            "prices": [price for _, _, price in lines],
        }
        order.id, ids = session.execute(_PG_INSERT_ORDER_AND_LINES, values | columns).one()
    else:
        order.id = session.execute(_INSERT_ORDER, values).scalar_one()
        rows = [
            {"order_id": order.id, "product_id": p, "quantity": q, "unit_price_cents": c} for p, q, c in lines
        ]
        if not rows:
            ids = []
        elif dialect == "sqlite":
            ids = list(next_sqlite_order_item_ids(session, len(rows)))
            session.execute(_INSERT_LINES, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        else:
            ids = list(session.execute(_INSERT_LINES_RETURNING, rows).scalars())
    for item, item_id, (product_id, _, _) in zip(order.items, ids, lines, strict=True):
        item.id, item.order_id, item.product_id = item_id, order.id, product_id
        make_transient_to_detached(item)
    make_transient_to_detached(order)
    session.add(order)  # persistent, its lines too (cascade), as loaded: nothing left to flush
    session.info.setdefault(_WRITTEN, []).append(order)


# The orders ``_insert`` wrote in the current transaction. A flush's inserts leave the session when
# their transaction rolls back; these must too (their rows are gone, their ids may come again).
_WRITTEN = "shop.orders_written"


def forget_written(session: DbSession, *, rolled_back: bool) -> None:
    """At the end of a transaction (the session hook): detach what ``_insert`` wrote if it rolled back."""
    for order in session.info.pop(_WRITTEN, []):
        if rolled_back and order in session:
            session.expunge(order)  # its lines with it (cascade)


# -- changing status ---------------------------------------------------------------------------


def takes_stock(old_status: str | None, new_status: str) -> bool:
    """An order takes its stock when it first enters a committing status (``old_status`` None: created)."""
    return new_status in COMMITTING and old_status not in COMMITTING


def returns_stock(old_status: str, new_status: str) -> bool:
    """A committed order that is cancelled gives its stock back."""
    return new_status == OrderStatus.CANCELLED and old_status in COMMITTING


def columns_for_status(
    order: Order, old_status: str | None, new_status: str, *, now: datetime, reason: str | None = None
) -> dict[str, object]:
    """What else an order's row records when it enters ``new_status`` (``old_status`` None: created).

    The one place ``stock_committed_at`` is set: when the order takes its stock. A paid or cancelled
    order is no longer a hold: its client and e-mail key are forgotten, and only a released one keeps
    its expiry time, to show when it ran out.
    """
    columns: dict[str, object] = {}
    if takes_stock(old_status, new_status):
        columns["stock_committed_at"] = now
    if old_status is not None and order.hold_expires_at is not None and new_status != OrderStatus.CONFIRMED:
        columns["client_address"] = columns["client_email_hash"] = None
        if reason != MovementReason.HOLD_EXPIRED:
            columns["hold_expires_at"] = None
    return columns


def record_status(order: Order, old_status: str | None, new_status: str, *, now: datetime) -> None:
    """Set ``columns_for_status`` on an order the ORM will write (a new one, or in the session hook)."""
    for name, value in columns_for_status(order, old_status, new_status, now=now).items():
        setattr(order, name, value)


def change_status(
    session: DbSession, order: Order, new_status: str, *, actor: str, reason: str | None = None
) -> str:
    """Move ``order`` to ``new_status`` and send ``order_status_changed``; return the status it had.

    Locks the order's row (the one lock of this change) and judges the move against the
    committed status, so a concurrent change of the same order waits and then sees this one.
    The observer takes or returns the stock, ledgered by ``actor`` and, for stock coming back, as
    ``reason`` (``order_cancelled`` unless given, e.g. ``hold_expired``). Re-saving the current
    status does nothing; a move the rules do not allow raises ``InvalidStatusTransition``.
    """
    check_status(new_status)
    old_status = lock_order(session, order)
    move_locked_order(session, order, old_status, new_status, actor=actor, reason=reason)
    return old_status


def move_locked_order(
    session: DbSession,
    order: Order,
    old_status: str,
    new_status: str,
    *,
    actor: str,
    reason: str | None = None,
) -> None:
    """``change_status`` for an order the caller has locked already, whose committed status is ``old_status``.

    The sweeper claims expired holds with ``SKIP LOCKED`` and a payment judges the order under
    its lock first: each change still takes one lock. The row is written with a Core UPDATE, so
    no ORM change is left for the session hook to announce a second time.
    """
    if new_status == old_status:
        return
    check_transition(old_status, new_status)
    _announce(order, old_status, new_status, actor=actor, reason=reason)
    now = utcnow()
    columns = {"status": new_status, "updated_at": now}
    columns |= columns_for_status(order, old_status, new_status, now=now, reason=reason)
    session.execute(update(_ORDERS).where(_ORDERS.c.id == order.id).values(columns))
    for name, value in columns.items():
        attributes.set_committed_value(order, name, value)


def status_written(session: DbSession, order: Order, new_status: str, *, actor: str) -> None:
    """For the session hook: an ORM write of ``order.status`` is locked, judged and announced here.

    The same rules as ``change_status``; the flush that called the hook writes the row.
    """
    old_status = lock_order(session, order)
    if new_status == old_status:
        return  # someone else made the same change first
    check_transition(old_status, new_status)
    _announce(order, old_status, new_status, actor=actor, reason=None)
    record_status(order, old_status, new_status, now=utcnow())


def _announce(order: Order, old_status: str, new_status: str, *, actor: str, reason: str | None) -> None:
    """Send ``order_status_changed``: the observer takes or returns the stock, or raises."""
    signals.order_status_changed.send(
        signals.sender(),
        order=order,
        old_status=old_status,
        new_status=new_status,
        actor=actor,
        reason=reason,
    )
