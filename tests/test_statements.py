"""Placing an order costs the same number of SQL statements whatever its number of lines."""

from datetime import timedelta

import pytest

from shop.hoarding import CustomerLimits, place_customer_order
from shop.models import Inventory, Product, utcnow
from shop.orders import place_order
from tests.support.readers import stock_of


@pytest.fixture
def hundred_products(session):
    session.add_all(
        Product(sku=f"P{i:03}", name=f"Product {i}", price_cents=100 + i, inventory=Inventory(quantity=50))
        for i in range(100)
    )
    session.commit()


def statements_to_place(session, statements, lines, *, customer=False):
    """The statements of placing an order of ``lines`` lines: staff's, or a customer's hold (``customer``)."""
    session.expunge_all()  # start cold, like a request does
    statements.clear()
    order = [(f"P{i:03}", 2) for i in range(lines)]
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


def test_placing_an_order_takes_a_constant_number_of_statements(session, statements, hundred_products):
    by_lines = {n: [s.split()[0] for s in statements_to_place(session, statements, n)] for n in (1, 10, 100)}
    assert by_lines[1] == by_lines[10] == by_lines[100]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # products by SKU; the order and its lines in one statement; lock, guarded decrement and
        # ledger rows in one statement; the events (shop.outbox) in one statement
        expected = ["SELECT", "WITH", "WITH", "INSERT"]
    else:
        # products by SKU; order; its lines; lock and read stock; guarded decrement; ledger rows; events
        expected = ["SELECT", "INSERT", "INSERT", "SELECT", "UPDATE", "INSERT", "INSERT"]
    if dialect == "sqlite":  # plus the next line id (shop.orders._insert)
        expected.insert(2, "SELECT")
    assert by_lines[100] == expected
    assert stock_of(session, "P000") == 44 and stock_of(session, "P099") == 48


def test_a_customers_hold_costs_two_statements_more_for_the_held_units_check(
    session, statements, hundred_products
):
    """The client's lock row (one upsert), then its live holds (one indexed read); then as for staff."""
    staff = [s.split()[0] for s in statements_to_place(session, statements, 10)]
    by_lines = {
        n: [s.split()[0] for s in statements_to_place(session, statements, n, customer=True)] for n in (1, 10)
    }
    assert by_lines[1] == by_lines[10] == ["INSERT", "SELECT", *staff]
    lock, count = statements_to_place(session, statements, 1, customer=True)[:2]
    assert "hold_clients" in lock and "client_address" in count
