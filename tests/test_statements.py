"""Placing an order costs the same number of SQL statements whatever its number of lines and of locations."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.hoarding import CustomerLimits, place_customer_order
from shop.locations import add_location
from shop.models import Inventory, Product, utcnow
from shop.orders import place_order
from shop.stock import transfer_stock
from tests.support.readers import stock_of


@pytest.fixture
def hundred_products(session):
    session.add_all(
        Product(sku=f"P{i:03}", name=f"Product {i}", price_cents=100 + i, inventory=Inventory(quantity=50))
        for i in range(100)
    )
    session.commit()


def sql_of_placing(session, statements, lines, quantity=2, first=0, *, customer=False) -> list[str]:
    """The statements of placing an order of ``lines`` lines: staff's, or a customer's hold (``customer``)."""
    session.expunge_all()  # start cold, like a request does
    statements.clear()
    order = [(f"P{i:03}", quantity) for i in range(first, first + lines)]
    details = {"status": "confirmed", "customer_name": "Ada", "customer_email": "ada@example.com"}
    if customer:
        limits = CustomerLimits("203.0.113.7", max_per_order=10, max_held_units=1000)
        place_customer_order(
            session, order, limits=limits, hold_until=utcnow() + timedelta(minutes=15), **details
        )
    else:
        place_order(session, order, **details)
    session.commit()
    return [s for s in statements if s.split()[0].upper() not in ("BEGIN", "COMMIT")]


def statements_to_place(session, statements, lines, quantity=2, first=0, *, customer=False) -> list[str]:
    """The first word of each statement of ``sql_of_placing``."""
    return [
        s.split()[0] for s in sql_of_placing(session, statements, lines, quantity, first, customer=customer)
    ]


def expected_statements(dialect: str, *, split: bool = False) -> list[str]:
    if dialect == "postgresql":
        # products by SKU; the order and its lines in one statement; lock, guarded decrement, ledger
        # rows and allocations in one statement (one more, once allocated, when no single location
        # can serve the whole order); the events (shop.outbox) in one statement
        return ["SELECT", "WITH", "WITH", *(["WITH"] if split else []), "INSERT"]
    # products by SKU; order; its lines; lock and read stock at every location; guarded decrement;
    # ledger rows; allocations; events
    expected = ["SELECT", "INSERT", "INSERT", "SELECT", "UPDATE", "INSERT", "INSERT", "INSERT"]
    if dialect == "sqlite":  # plus the next line id (shop.orders._insert)
        expected.insert(2, "SELECT")
    return expected


def test_placing_an_order_takes_a_constant_number_of_statements(session, statements, hundred_products):
    by_lines = {n: statements_to_place(session, statements, n) for n in (1, 10, 100)}
    assert by_lines[1] == by_lines[10] == by_lines[100]
    assert by_lines[100] == expected_statements(session.get_bind().dialect.name)
    assert stock_of(session, "P000") == 44 and stock_of(session, "P099") == 48


def test_a_customers_hold_costs_two_statements_more_for_the_held_units_check(
    session, statements, hundred_products
):
    """The lock rows of the client and of its e-mail (one upsert), then the live holds of each (one read,
    an indexed range each); then as for staff."""
    staff = statements_to_place(session, statements, 10)
    by_lines = {n: statements_to_place(session, statements, n, customer=True) for n in (1, 10)}
    assert by_lines[1] == by_lines[10] == ["INSERT", "SELECT", *staff]
    lock, count = sql_of_placing(session, statements, 1, customer=True)[:2]
    assert "hold_clients" in lock and lock.replace(" ", "").count("),(") == 1  # two rows: address, e-mail
    assert "client_address" in count and "client_email_hash" in count


@pytest.fixture
def spread_over_three_locations(session, hundred_products):
    """Each product's 50 units as 20 at main, 20 on a shop floor and 10 in a back room (moved by transfers)."""
    session.info["actor"] = "test"
    for code, priority in (("floor", 1), ("back", 2)):
        add_location(session, code, code.title(), priority=priority)
    for product in session.scalars(select(Product)):
        transfer_stock(session, product, 20, "main", "floor")
        transfer_stock(session, product, 10, "main", "back")
    session.commit()


def test_statements_stay_flat_in_lines_and_locations(session, statements, spread_over_three_locations):
    dialect = session.get_bind().dialect.name
    from_one_place = {n: statements_to_place(session, statements, n, quantity=2) for n in (1, 10, 100)}
    assert from_one_place[1] == from_one_place[10] == from_one_place[100] == expected_statements(dialect)
    assert (stock_of(session, "P000"), stock_of(session, "P099")) == (44, 48)


def test_statements_stay_flat_when_lines_are_split_over_locations(
    session, statements, spread_over_three_locations
):
    dialect = session.get_bind().dialect.name
    # 21 units a line: more than any one location has, so each line is split (20 at main, 1 on the floor).
    split = {
        n: statements_to_place(session, statements, n, quantity=21, first=first)
        for n, first in ((1, 0), (10, 1), (50, 11))
    }
    assert split[1] == split[10] == split[50] == expected_statements(dialect, split=True)
    assert (stock_of(session, "P000"), stock_of(session, "P060"), stock_of(session, "P061")) == (29, 29, 50)
