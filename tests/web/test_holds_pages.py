"""Holds on the web: the order page's time left, the demo payment, the staff view of unpaid holds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.models import Order, Payment, Product, utcnow
from tests.support.factories import add_product, place_hold
from tests.support.readers import ledger, read, row_count, stock
from tests.support.web import checkout, edit_product, flashes

LATER = timedelta(minutes=16)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(utcnow().replace(hour=14, minute=0, second=0) + timedelta(days=1), tick=False)
    return time_machine


@pytest.fixture
def tea(session):
    add_product(session, "TEA", 10, price_cents=1250)


def number_of(response) -> str:
    return re.search(r"/orders/([A-Z0-9-]+)$", response.headers["Location"]).group(1)


def status(session, number):
    return read(session, select(Order.status).where(Order.number == number))


def test_a_web_checkout_is_a_hold_and_its_page_shows_the_time_left(session, client, tea, clock):
    number = number_of(checkout(client, {"TEA": 2}))
    clock.shift(timedelta(minutes=3))
    page = client.get(f"/orders/{number}").text
    assert "Held for you until 14:15 UTC, 12 minutes left." in page
    assert "Pay now (demo)" in page


def test_the_order_page_of_an_expired_hold_says_so_and_writes_nothing(session, client, tea, clock):
    number = number_of(checkout(client, {"TEA": 2}))
    clock.shift(LATER)
    page = client.get(f"/orders/{number}").text
    assert "Your hold expired at 14:15 UTC" in page and "Pay now (demo)" not in page
    assert status(session, number) == "confirmed" and stock(session, "TEA") == 8


def test_the_order_page_of_a_released_hold_says_what_happened(session, client, runner, tea, clock):
    number = number_of(checkout(client, {"TEA": 2}))
    clock.shift(LATER)
    assert runner.invoke(args=["orders", "expire-holds"]).exit_code == 0
    page = client.get(f"/orders/{number}").text
    assert "Your hold expired at 14:15 UTC before it was paid, so the items went back into stock." in page


def test_the_demo_payment_pays_a_live_hold(session, client, tea, clock):
    number = number_of(checkout(client, {"TEA": 2}))
    response = client.post(f"/orders/{number}/pay", follow_redirects=True)
    assert f"Order {number} is paid" in flashes(response.text)
    assert status(session, number) == "paid"
    assert read(session, select(Payment.amount_cents)) == 2500
    assert "Pay now (demo)" not in response.text


def test_the_demo_payment_of_an_expired_hold_releases_it(session, client, tea, clock):
    number = number_of(checkout(client, {"TEA": 2}))
    clock.shift(LATER)
    response = client.post(f"/orders/{number}/pay", follow_redirects=True)
    assert "Your hold expired before the payment arrived" in flashes(response.text)
    assert status(session, number) == "cancelled" and stock(session, "TEA") == 10
    assert row_count(session, Payment) == 0


def test_demo_payments_are_off_in_production(session, client, app, tea):
    number = number_of(checkout(client, {"TEA": 2}))
    app.config["SHOP_DEMO_PAYMENTS"] = False
    assert "Pay now (demo)" not in client.get(f"/orders/{number}").text
    assert client.post(f"/orders/{number}/pay").status_code == 404
    assert status(session, number) == "confirmed"


def test_a_checkout_takes_the_stock_of_an_expired_hold(session, client, tea, clock):
    first = number_of(checkout(client, {"TEA": 10}, email="hoarder@example.com"))
    clock.shift(LATER)
    second = number_of(checkout(client, {"TEA": 4}))
    assert (status(session, first), status(session, second)) == ("cancelled", "confirmed")
    assert stock(session, "TEA") == 6
    assert [row[:2] for row in ledger(session, "TEA")] == [
        ("initial_stock", 10),
        ("order_placed", -10),
        ("hold_expired", 10),
        ("order_placed", -4),
    ]


# The clock moves before the log-in: a staff session that began a day earlier would have ended.
def test_staff_see_unpaid_holds_with_their_time_left_and_release_expired_ones(
    session, tea, clock, staff_client
):
    place_hold(session, ("TEA", 2))
    clock.shift(timedelta(minutes=10))
    live = place_hold(session, ("TEA", 3)).number
    session.rollback()  # end the test's read: on SQLite its snapshot would hide the client's writes
    clock.shift(timedelta(minutes=6))
    page = staff_client.get("/staff/orders?status=awaiting").text
    assert 'Awaiting payment <span class="count">2</span>' in page
    assert 'All <span class="count">2</span>' in page  # the holds are confirmed orders, counted once
    assert "hold expired" in page and live in page and "9 minutes left" in page
    product_page = staff_client.get("/staff/products/TEA").text
    assert re.search(r'class="held-figure">5 ', product_page)

    response = staff_client.post("/staff/holds/release", follow_redirects=True)
    assert "Released 1 expired hold(s); 2 unit(s) are back in stock." in flashes(response.text)
    assert stock(session, "TEA") == 7
    assert 'Awaiting payment <span class="count">1</span>' in response.text


def test_staff_set_a_limit_per_order_and_the_catalog_shows_it(session, staff_client, tea):
    response = edit_product(staff_client, "TEA", max_per_order="2")
    assert response.status_code == 302
    assert read(session, select(Product.max_per_order).where(Product.sku == "TEA")) == 2
    assert "at most 2" in staff_client.get("/staff/products/TEA").text
    assert "limit 2 per order" in staff_client.get("/").text
    edit_product(staff_client, "TEA", max_per_order="")
    assert read(session, select(Product.max_per_order).where(Product.sku == "TEA")) is None


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", "99999999999999999999999999999999999999"])
def test_a_bad_limit_is_refused_with_a_message(session, staff_client, tea, value):
    response = edit_product(staff_client, "TEA", max_per_order=value)
    assert response.status_code == 422
    assert "TEA was not changed: Limit per order:" in flashes(response.text)
    assert read(session, select(Product.max_per_order).where(Product.sku == "TEA")) is None


def test_a_checkout_over_the_limit_names_it_with_the_other_problems(session, client, tea):
    add_product(session, "CUP", 1)
    session.execute(Product.__table__.update().values(max_per_order=3).where(Product.sku == "TEA"))
    session.commit()
    response = checkout(client, {"TEA": 4, "CUP": 2})
    assert response.status_code == 422
    text = flashes(response.text)
    assert "TEA: 4 requested, at most 3 per order." in text and "CUP: 2 requested, only 1 available." in text
    assert stock(session, "TEA") == 10
