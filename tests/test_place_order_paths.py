"""The services' Core writes and ORM writes through the session hook leave identical rows.

The same random orders, then the same random status changes, go both ways, on twin products with
the same stock, status and limits:

- placing: ``place_order`` (Core INSERTs, then ``order_created`` sent by itself) and
  ``session.add(Order(...))`` (the hook checks the lines before the flush and sends
  ``order_created`` after it);
- changing status: ``change_status`` (locks, judges, sends ``order_status_changed`` itself, Core
  UPDATE) and ``order.status = new`` flushed (the hook locks, judges and sends the same signal).

Orders, lines, ledger rows, stock and errors must not tell the two apart (docs/architecture.md,
"Why place_order skips the ORM flush").
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shop.database import commit_unit_of_work
from shop.errors import InventoryError
from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Order, OrderItem, Product, utcnow
from shop.orders import change_status, place_order
from tests.support.databases import ALL_BACKENDS, empty_tables, make_app

# sku: (stock or None for no inventory row, status, max per order)
CATALOG = {
    "A": (6, "active", None),
    "B": (2, "active", 3),
    "C": (0, "active", None),
    "D": (5, "unavailable", None),
    "E": (5, "discontinued", None),
    "F": (None, "active", None),
}
LINES = st.lists(
    st.tuples(st.sampled_from(sorted(CATALOG)), st.sampled_from([1, 1, 2, 3, 4, 0, -1, 20_000])), max_size=4
)
STATUSES = st.sampled_from(["draft", "confirmed", "paid", "cancelled", "shipped"])
ORDERS = st.lists(st.tuples(LINES, STATUSES), min_size=1, max_size=5)
# (which placed order, by its position, modulo their number; the status it is moved to)
CHANGES = st.lists(st.tuples(st.integers(0, 4), STATUSES), max_size=6)
HOLD = utcnow() + timedelta(minutes=15)


@pytest.fixture(scope="module", params=ALL_BACKENDS)
def twin_app(request, database_urls):
    yield from make_app(database_urls(request.param))


def through_core(lines, status, prefix):
    order = place_order(
        db.session,
        [(prefix + sku, quantity) for sku, quantity in lines],
        status=status,
        customer_name="Ada",
        customer_email="ada@example.com",
        hold_until=HOLD,
    )
    # The objects returned are the rows written (before the commit expires them): each line has
    # its own row's id.
    written = db.session.execute(
        select(OrderItem.id, OrderItem.product_id, OrderItem.quantity)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.id)
    ).all()
    assert written == [(item.id, item.product_id, item.quantity) for item in order.items]
    return order


def through_the_hook(lines, status, prefix):
    products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.startswith(prefix)))}
    order = Order(
        status=status,
        customer_name="Ada",
        customer_email="ada@example.com",
        hold_expires_at=HOLD if status == "confirmed" else None,
        items=[OrderItem(product=products[prefix + sku], quantity=quantity) for sku, quantity in lines],
    )
    db.session.add(order)
    db.session.flush()
    return order


def change_through_the_service(order, status):
    change_status(db.session, order, status, actor="twin")
    return order


def change_through_the_hook(order, status):
    order.status = status
    db.session.flush()
    return order


def outcome(work, prefix):
    """("done", the order's status) or ("refused", the error's class and every problem without the prefix)."""
    try:
        return "done", commit_unit_of_work(work, actor="twin").status
    except InventoryError as exc:
        return (
            "refused",
            type(exc).__name__,
            sorted(
                (p.code, (p.sku or "").removeprefix(prefix), p.requested, p.available, p.limit)
                for p in exc.problems
            ),
        )


def placed_orders(prefix):
    """The orders placed on one twin's products, oldest first."""
    mine = select(OrderItem.order_id).join(Product).where(Product.sku.startswith(prefix))
    return db.session.scalars(select(Order).where(Order.id.in_(mine)).order_by(Order.id)).all()


def rows_of(prefix):
    """Everything the orders of one twin wrote, without ids, numbers and timestamps."""
    session = db.session
    mine = Product.sku.startswith(prefix)
    orders = session.execute(
        select(
            Order.id,
            Order.status,
            Order.customer_name,
            Order.customer_email,
            Order.stock_committed_at,
            Order.hold_expires_at,
        )
        .where(Order.id.in_(select(OrderItem.order_id).join(Product).where(mine)))
        .order_by(Order.id)
    ).all()
    index = {order.id: i for i, order in enumerate(orders)}
    lines = session.execute(
        select(OrderItem.order_id, Product.sku, OrderItem.quantity, OrderItem.unit_price_cents)
        .join(Product)
        .where(mine)
        .order_by(OrderItem.id)
    ).all()
    ledger = session.execute(
        select(
            InventoryMovement.order_id,
            Product.sku,
            InventoryMovement.delta,
            InventoryMovement.quantity_after,
            InventoryMovement.reason,
            InventoryMovement.actor,
        )
        .join(Product)
        .where(mine)
        .order_by(InventoryMovement.id)
    ).all()
    stock = session.execute(
        select(Product.sku, Inventory.quantity).join(Inventory).where(mine).order_by(Product.sku)
    )
    unprefix = lambda sku: sku.removeprefix(prefix)  # noqa: E731
    return (
        [
            (o.status, o.customer_name, o.customer_email, o.stock_committed_at is not None, o.hold_expires_at)
            for o in orders
        ],
        [(index[o], unprefix(sku), q, price) for o, sku, q, price in lines],
        [(None if o is None else index[o], unprefix(sku), *rest) for o, sku, *rest in ledger],
        [(unprefix(sku), q) for sku, q in stock],
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=ORDERS, changes=CHANGES)
def test_the_services_and_orm_writes_through_the_hook_leave_identical_rows(twin_app, orders, changes):
    with twin_app.app_context():
        empty_tables(db.session)
        for prefix in ("CORE-", "ORM-"):
            for sku, (quantity, status, limit) in CATALOG.items():
                product = Product(
                    sku=prefix + sku, name=sku, price_cents=150, status=status, max_per_order=limit
                )
                if quantity is not None:
                    product.inventory = Inventory(quantity=quantity)
                db.session.add(product)
        db.session.commit()

        for lines, status in orders:
            core = outcome(partial(through_core, lines, status, "CORE-"), "CORE-")
            orm = outcome(partial(through_the_hook, lines, status, "ORM-"), "ORM-")
            assert core == orm
        assert rows_of("CORE-") == rows_of("ORM-")

        twins = list(zip(placed_orders("CORE-"), placed_orders("ORM-"), strict=True))
        for position, status in changes if twins else ():
            core_order, orm_order = twins[position % len(twins)]
            core = outcome(partial(change_through_the_service, core_order, status), "CORE-")
            orm = outcome(partial(change_through_the_hook, orm_order, status), "ORM-")
            assert core == orm
        assert rows_of("CORE-") == rows_of("ORM-")
        db.session.rollback()
