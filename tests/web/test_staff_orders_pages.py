"""Staff: the order list, its status filter and its buttons, which go through the inventory observer."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.extensions import db
from shop.models import Order
from shop.orders import place_order
from tests.support.factories import add_product
from tests.support.readers import ledger, read, stock
from tests.support.web import flashes


@pytest.fixture
def shop(session):
    add_product(session, "TEA", 10, price_cents=1250)
    add_product(session, "CUP", 3, price_cents=800)
    return session


def place(session, *lines, status="confirmed", name="Grace Hopper"):
    order = place_order(session, lines, status=status, customer_name=name, customer_email="grace@example.com")
    session.commit()
    number = order.number
    session.rollback()
    return number


def status_of(session, number):
    return read(session, select(Order.status).where(Order.number == number))


def buttons(html: str, number: str) -> list[str]:
    start = html.index(f'data-order="{number}"')
    row = html[start : html.index("</tr>", start)]
    return re.findall(r'<button class="btn btn-sm [a-z-]+" type="submit">([^<]+)<', row)


def move(client, number, status, **extra):
    return client.post(f"/staff/orders/{number}/status", data={"status": status, **extra})


def test_the_order_list_shows_orders_newest_first_with_totals(staff_client, shop):
    first = place(shop, ("TEA", 2), ("CUP", 1))
    second = place(shop, ("CUP", 1), status="draft", name="Ada Lovelace")
    html = staff_client.get("/staff/orders").text
    assert re.findall(r'data-order="([^"]+)"', html) == [second, first]
    row = html[html.index(f'data-order="{first}"') :]
    assert "Grace Hopper" in row and re.search(
        r'data-label="Items">3</td>\s*<td class="num" data-label="Total">€33.00</td>', row
    )
    assert f'href="/orders/{first}"' in row


@pytest.mark.parametrize(
    "status, expected",
    [
        ("draft", ["Confirm", "Mark paid", "Cancel"]),
        ("confirmed", ["Mark paid", "Cancel"]),
        ("paid", ["Cancel"]),
        ("cancelled", []),
    ],
)
def test_only_the_allowed_transitions_have_buttons(staff_client, shop, status, expected):
    number = place(shop, ("TEA", 1), status=status)
    html = staff_client.get("/staff/orders").text
    assert buttons(html, number) == expected
    if not expected:
        assert "No actions" in html


def test_the_order_list_filters_by_status(staff_client, shop):
    draft = place(shop, ("TEA", 1), status="draft")
    paid = place(shop, ("TEA", 1), status="paid")
    html = staff_client.get("/staff/orders?status=paid").text
    assert re.findall(r'data-order="([^"]+)"', html) == [paid]
    assert re.search(r'aria-current="page">Paid <span class="count">1</span>', html)
    assert re.findall(r'data-order="([^"]+)"', staff_client.get("/staff/orders?status=bogus").text) == [
        paid,
        draft,
    ]
    assert "No cancelled orders." in staff_client.get("/staff/orders?status=cancelled").text


def test_the_order_list_is_paginated(app, staff_client, shop):
    app.config["SHOP_PAGE_SIZE"] = 2
    numbers = [place(shop, ("TEA", 1), status="draft") for _ in range(3)]
    page_two = staff_client.get("/staff/orders?page=2").text
    assert re.findall(r'data-order="([^"]+)"', page_two) == [numbers[0]]


def test_confirming_a_draft_takes_its_stock(staff_client, shop):
    number = place(shop, ("TEA", 4), status="draft")
    response = move(staff_client, number, "confirmed")
    assert (response.status_code, response.location) == (302, "/staff/orders")
    assert status_of(shop, number) == "confirmed"
    assert stock(shop, "TEA") == 6
    assert ledger(shop, "TEA")[-1][:4] == ("order_placed", -4, 6, "staff:staff@example.com")
    assert f"Order {number} is now confirmed (was draft)." in flashes(staff_client.get("/staff/orders").text)


def test_cancelling_a_confirmed_order_returns_its_stock(staff_client, shop):
    number = place(shop, ("TEA", 4), ("CUP", 3))
    assert (stock(shop, "TEA"), stock(shop, "CUP")) == (6, 0)
    move(staff_client, number, "cancelled")
    assert status_of(shop, number) == "cancelled"
    assert (stock(shop, "TEA"), stock(shop, "CUP")) == (10, 3)
    assert [row.reason for row in ledger(shop, "CUP")] == ["initial_stock", "order_placed", "order_cancelled"]


def test_marking_paid_takes_nothing_more(staff_client, shop):
    number = place(shop, ("TEA", 4))
    move(staff_client, number, "paid")
    assert status_of(shop, number) == "paid" and stock(shop, "TEA") == 6


def test_an_invalid_transition_is_refused_with_a_flash(staff_client, shop):
    number = place(shop, ("TEA", 4), status="cancelled")
    response = move(staff_client, number, "confirmed")
    assert response.status_code == 302
    message = flashes(staff_client.get("/staff/orders").text)
    assert (
        f"Order {number} could not be moved to confirmed: An order cannot go from cancelled to confirmed."
        in message
    )
    assert status_of(shop, number) == "cancelled" and stock(shop, "TEA") == 10


def test_confirming_a_draft_beyond_stock_names_every_problem_and_changes_nothing(staff_client, shop):
    number = place(shop, ("TEA", 11), ("CUP", 4), status="draft")
    move(staff_client, number, "confirmed")
    message = flashes(staff_client.get("/staff/orders").text)
    assert "TEA: 11 requested, only 10 available." in message
    assert "CUP: 4 requested, only 3 available." in message
    assert status_of(shop, number) == "draft"
    assert (stock(shop, "TEA"), stock(shop, "CUP")) == (10, 3)


def test_the_same_status_again_changes_nothing(staff_client, shop):
    number = place(shop, ("TEA", 4))
    move(staff_client, number, "confirmed")
    assert f"Order {number} is already confirmed." in flashes(staff_client.get("/staff/orders").text)
    assert stock(shop, "TEA") == 6 and len(ledger(shop, "TEA")) == 2


def test_an_unknown_status_is_refused(staff_client, shop):
    number = place(shop, ("TEA", 4), status="draft")
    move(staff_client, number, "shipped")
    assert "Unknown order status." in flashes(staff_client.get("/staff/orders").text)
    assert status_of(shop, number) == "draft"


def test_an_unknown_order_is_404(staff_client, shop):
    response = move(staff_client, "AAAA-BBBB-CCCC-DDDD", "paid")
    assert response.status_code == 404
    assert "There is no order AAAA-BBBB-CCCC-DDDD." in response.text


@pytest.mark.parametrize(
    "next_url, landing",
    [
        ("/staff/orders?status=draft&page=1", "/staff/orders?status=draft&page=1"),
        ("https://evil.example/", "/staff/orders"),
    ],
)
def test_the_buttons_come_back_to_the_page_they_were_on(staff_client, shop, next_url, landing):
    number = place(shop, ("TEA", 1), status="draft")
    assert move(staff_client, number, "paid", next=next_url).location == landing


def test_orders_placed_by_code_show_up_too(staff_client, shop):
    """The observer, not the view, took the stock: any code path that writes an order is covered."""
    with staff_client.application.app_context():
        order = place_order(
            db.session,
            [("CUP", 1)],
            status="paid",
            customer_name="Script",
            customer_email="script@example.com",
        )
        db.session.commit()
        number = order.number
        db.session.remove()
    assert number in staff_client.get("/staff/orders").text
    assert stock(shop, "CUP") == 2
