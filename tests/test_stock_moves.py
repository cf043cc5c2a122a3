"""The two ways a stock change is written (shop/stock/moves.py) leave identical ledgers, allocations and errors.

PostgreSQL runs both: the one-statement paths it uses in production and the step-by-step paths of
MariaDB and SQLite. The same random changes and orders go through each, on twin products with the
same stock at three locations whose priorities and flags are drawn too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shop.errors import InventoryError
from shop.extensions import db
from shop.locations import add_location, find_location
from shop.models import Inventory, InventoryMovement, Location, OrderItem, OrderItemAllocation, Product
from shop.orders import place_order
from shop.stock import StockRow, allocation, moves, rules
from tests.support.databases import empty_tables, make_app

SKUS = ["A", "B", "C"]
PLACES = ["main", "floor", "back"]
START = {
    ("A", "main"): 6,
    ("A", "floor"): 4,
    ("A", "back"): 2,
    ("B", "main"): 3,
    ("B", "back"): 5,
    ("C", "floor"): 4,
    ("C", "back"): 1,
}
CHANGES = st.dictionaries(
    st.tuples(st.sampled_from(SKUS), st.sampled_from(PLACES)),
    st.integers(-4, 4).filter(bool),
    min_size=1,
    max_size=4,
)
ORDERS = st.tuples(
    st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 5)), min_size=1, max_size=4),
    st.sampled_from(list(allocation.Strategy)),
)
STEPS = st.lists(
    st.one_of(st.tuples(st.just("change"), CHANGES), st.tuples(st.just("take"), ORDERS)),
    min_size=1,
    max_size=8,
)
MOSTLY = st.sampled_from([True, True, True, False])
FLAGS = st.fixed_dictionaries(
    {place: st.tuples(st.integers(0, 2), MOSTLY, MOSTLY) for place in PLACES}
)  # priority, fulfils orders, active


@pytest.fixture(scope="module")
def postgresql_app(database_urls):
    yield from make_app(database_urls("postgresql"))


def rows_exist(deltas):
    """The refusal rule of a return: every (product, location) must have a row."""

    def run(rows: moves.Rows) -> None:
        problems = rules.return_problems(deltas, rows)
        if problems:
            raise InventoryError(problems)

    return run


def shortages(lines):
    """The refusal rule of a checkout: every product that cannot give its units is a problem."""
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity

    def run(rows: dict[int, StockRow]) -> None:
        problems = rules.stock_problems(wanted, rows)
        if problems:
            raise InventoryError.from_problems(problems)

    return run


def apply(prefix: str, ids: dict[str, int], places: dict[str, int], steps, *, one_statement: bool) -> list:
    """Each step in a savepoint of its own; what each did (its reports, or its refusal)."""
    outcomes = []
    for kind, step in steps:
        try:
            with db.session.begin_nested():
                if kind == "change":
                    deltas = {(ids[sku], places[place]): delta for (sku, place), delta in step.items()}
                    movement = moves.Movement("adjustment", "test", note="twin")
                    write = moves.in_one_statement if one_statement else moves.step_by_step
                    reports = write(db.session, deltas, movement, rows_exist(deltas))
                else:
                    lines, strategy = step
                    order = place_order(
                        db.session,
                        [(prefix + sku, quantity) for sku, quantity in lines],
                        status="draft",
                        customer_name="Twin",
                        customer_email="twin@example.com",
                    )
                    taken = [moves.Line(i.id, i.product_id, i.quantity) for i in order.items]
                    movement = moves.Movement("order_placed", "test", order.id, "twin")
                    take = moves.take_in_one_statement if one_statement else moves.take_step_by_step
                    reports = take(db.session, taken, movement, shortages(taken), strategy)
        except InventoryError as exc:
            event(f"{kind} refused")
            outcomes.append(("refused", sorted((p.code, p.requested, p.available) for p in exc.problems)))
        else:
            event(f"{kind}: {len({r.location for r in reports})} location(s)")
            outcomes.append(
                (
                    "done",
                    [
                        (r.sku.removeprefix(prefix), r.location, r.delta, r.quantity_after, r.level)
                        for r in reports
                    ],
                )
            )
    return outcomes


def ledger(prefix: str) -> list:
    rows = db.session.execute(
        select(
            Product.sku,
            Location.code,
            InventoryMovement.delta,
            InventoryMovement.quantity_after,
            InventoryMovement.reason,
        )
        .join(Product)
        .join(Location)
        .where(Product.sku.startswith(prefix), InventoryMovement.reason != "initial_stock")
        .order_by(InventoryMovement.id)
    ).all()
    return [(sku.removeprefix(prefix), *rest) for sku, *rest in rows]


def allocations(prefix: str) -> list:
    """(SKU, line quantity, location, units) of every allocation, in the order of the lines."""
    rows = db.session.execute(
        select(Product.sku, OrderItem.quantity, Location.code, OrderItemAllocation.quantity)
        .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
        .join(Product, Product.id == OrderItem.product_id)
        .join(Location, Location.id == OrderItemAllocation.location_id)
        .where(Product.sku.startswith(prefix))
        .order_by(OrderItem.id, Location.code)
    ).all()
    return [(sku.removeprefix(prefix), *rest) for sku, *rest in rows]


def stock(prefix: str) -> dict:
    rows = db.session.execute(
        select(Product.sku, Location.code, Inventory.quantity)
        .join(Inventory, Inventory.product_id == Product.id)
        .join(Location)
        .where(Product.sku.startswith(prefix))
    )
    return {(sku.removeprefix(prefix), code): quantity for sku, code, quantity in rows}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, flags=FLAGS)
def test_both_ways_leave_identical_ledgers_allocations_stock_and_errors(postgresql_app, steps, flags):
    with postgresql_app.app_context():
        db.session.info["actor"] = "test"
        empty_tables(db.session)
        for place in PLACES[1:]:
            add_location(db.session, place, place.title())
        places = {}
        for place, (priority, fulfils, active) in flags.items():
            location = find_location(db.session, place)
            location.priority, location.fulfils_orders, location.active = priority, fulfils, active
            places[place] = location.id
        twins = {}
        for prefix in ("STEP-", "ONE-"):
            products = {sku: Product(sku=prefix + sku, name=sku, price_cents=1) for sku in SKUS}
            for (sku, place), quantity in START.items():
                products[sku].stocks.append(Inventory(location_id=places[place], quantity=quantity))
            db.session.add_all(products.values())
            db.session.flush()
            twins[prefix] = {sku: p.id for sku, p in products.items()}
        assert db.session.connection().dialect.name == "postgresql"

        step = apply("STEP-", twins["STEP-"], places, steps, one_statement=False)
        one = apply("ONE-", twins["ONE-"], places, steps, one_statement=True)

        assert one == step
        assert ledger("ONE-") == ledger("STEP-")
        assert allocations("ONE-") == allocations("STEP-")
        assert stock("ONE-") == stock("STEP-")
        db.session.rollback()
