"""Every line is checked before any stock moves, and every problem is reported at once."""

import pytest

from shop.errors import InsufficientStock, InventoryError, OrderRejected
from shop.models import Order, OrderItem
from shop.orders import place_order
from shop.stock import MAX_LINE_QUANTITY, MAX_LINES
from tests.support.factories import add_product, order_of
from tests.support.readers import counts, movements, stock_of


def refused(session, order):
    """Commit ``order``; return the error, after checking nothing was written."""
    before = counts(session)
    session.add(order)
    with pytest.raises(InventoryError) as error:
        session.commit()
    session.rollback()
    assert counts(session) == before
    return error.value


def codes(error):
    return sorted(((p.sku, p.code) for p in error.problems), key=str)


def test_a_multi_line_order_takes_each_products_quantity(session):
    a, b, c = (add_product(session, sku, 20) for sku in ("A", "B", "C"))
    session.add(order_of(session, (a, 1), (b, 7), (c, 20)))
    session.commit()
    assert [stock_of(session, s) for s in "ABC"] == [19, 13, 0]


def test_duplicate_lines_are_summed_per_product(session):
    tea = add_product(session, "TEA", 5)
    error = refused(session, order_of(session, (tea, 3), (tea, 3)))
    assert isinstance(error, InsufficientStock)
    assert [(p.requested, p.available) for p in error.problems] == [(6, 5)]

    session.add(order_of(session, (tea, 2), (tea, 3)))
    session.commit()
    assert stock_of(session, "TEA") == 0
    assert [(m.delta, m.quantity_after) for m in movements(session, "TEA", "order_placed")] == [(-5, 0)]


def test_every_shortage_is_reported_as_insufficient_stock(session):
    a, b, c = add_product(session, "A", 1), add_product(session, "B", 2), add_product(session, "C", 9)
    error = refused(session, order_of(session, (a, 2), (b, 3), (c, 1)))
    assert type(error) is InsufficientStock
    assert sorted((p.sku, p.requested, p.available) for p in error.problems) == [("A", 2, 1), ("B", 3, 2)]
    assert stock_of(session, "C") == 9


def test_mixed_problems_are_all_reported_together(session):
    short = add_product(session, "SHORT", 1)
    gone = add_product(session, "GONE", 5, status="discontinued")
    paused = add_product(session, "PAUSED", 5, status="unavailable")
    unstocked = add_product(session, "UNSTOCKED", None)
    fine = add_product(session, "FINE", 5)
    order = order_of(session, (short, 4), (gone, 1), (paused, 1), (unstocked, 1), (fine, 1))
    order.items.append(OrderItem(product_id=999_999, quantity=1))
    error = refused(session, order)
    assert type(error) is OrderRejected
    assert codes(error) == sorted(
        [
            ("SHORT", "insufficient_stock"),
            ("GONE", "discontinued"),
            ("PAUSED", "unavailable"),
            ("UNSTOCKED", "no_inventory"),
            (None, "unknown_product"),
        ],
        key=str,
    )
    assert stock_of(session, "FINE") == 5


@pytest.mark.parametrize(
    ("status", "code"), [("discontinued", "discontinued"), ("unavailable", "unavailable")]
)
def test_products_that_cannot_be_sold_are_refused(session, status, code):
    product = add_product(session, "P", 5, status=status)
    assert codes(refused(session, order_of(session, (product, 1)))) == [("P", code)]


def test_a_product_without_an_inventory_row_is_refused(session):
    product = add_product(session, "P", None)
    assert codes(refused(session, order_of(session, (product, 1)))) == [("P", "no_inventory")]


def test_an_unknown_product_is_refused(session):
    order = Order(
        status="paid",
        customer_name="Ada",
        customer_email="ada@example.com",
        items=[OrderItem(product_id=424242, quantity=1)],
    )
    assert codes(refused(session, order)) == [(None, "unknown_product")]


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (0, "invalid_quantity"),
        (-3, "invalid_quantity"),
        (2.5, "invalid_quantity"),
        ("2", "invalid_quantity"),
        (True, "invalid_quantity"),
        (MAX_LINE_QUANTITY + 1, "quantity_too_large"),
        (10**12, "quantity_too_large"),
    ],
)
def test_bad_quantities_are_refused_along_with_the_other_problems(session, quantity, code):
    good, short = add_product(session, "GOOD", 5), add_product(session, "SHORT", 1)
    error = refused(session, order_of(session, (good, quantity), (short, 2)))
    assert codes(error) == [("GOOD", code), ("SHORT", "insufficient_stock")]


def test_bad_quantities_are_refused_on_drafts_too(session):
    good = add_product(session, "GOOD", 5)
    assert codes(refused(session, order_of(session, (good, 0), status="draft"))) == [
        ("GOOD", "invalid_quantity")
    ]


@pytest.mark.parametrize("status", ["confirmed", "paid"])
def test_a_committing_order_needs_lines(session, status):
    assert codes(refused(session, order_of(session, status=status))) == [(None, "empty_order")]


def test_an_empty_draft_is_stored_and_takes_nothing(session):
    before = counts(session)
    draft = order_of(session, status="draft")
    session.add(draft)
    session.commit()
    session.expire_all()
    stored = session.get(Order, draft.id)
    assert (stored.status, stored.items, stored.stock_committed_at) == ("draft", [], None)
    assert counts(session) == {**before, "orders": before["orders"] + 1}  # no line, no ledger row


def test_too_many_lines_are_refused(session):
    tea = add_product(session, "TEA", 100)
    error = refused(session, order_of(session, *[(tea, 1)] * (MAX_LINES + 1)))
    assert "too_many_lines" in [p.code for p in error.problems]


def test_confirming_a_draft_that_cannot_be_served_changes_nothing(session):
    tea, cup = add_product(session, "TEA", 5), add_product(session, "CUP", 5)
    order = order_of(session, (tea, 2), (cup, 2), status="draft")
    session.add(order)
    session.commit()
    cup.status = "discontinued"
    session.commit()
    order.status = "confirmed"
    with pytest.raises(OrderRejected):
        session.commit()
    session.rollback()
    assert session.get(Order, order.id).status == "draft"
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (5, 5)


def test_place_order_reports_unknown_skus_with_every_other_problem(session):
    add_product(session, "SHORT", 1)
    add_product(session, "GONE", 3, status="discontinued")
    before = counts(session)
    with pytest.raises(OrderRejected) as error:
        place_order(
            session,
            [("NOPE", 1), ("SHORT", 2), ("GONE", 1), ("SHORT", 0)],
            status="confirmed",
            customer_name="",
            customer_email="not-an-address",
        )
    assert codes(error.value) == sorted(
        [
            ("NOPE", "unknown_product"),
            ("SHORT", "insufficient_stock"),
            ("GONE", "discontinued"),
            ("SHORT", "invalid_quantity"),
            (None, "invalid_customer"),
            (None, "invalid_customer"),
        ],
        key=str,
    )
    session.rollback()
    assert counts(session) == before


def test_place_order_places_a_valid_order(session):
    add_product(session, "TEA", 5, price_cents=990)
    order = place_order(
        session, [("TEA", 2)], status="paid", customer_name=" Ada ", customer_email="ada@example.com"
    )
    session.commit()
    assert (order.status, order.customer_name, order.total_cents) == ("paid", "Ada", 1980)
    assert stock_of(session, "TEA") == 3
