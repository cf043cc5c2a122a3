"""An expired hold never refuses a buyer, anywhere (README, Holds and payments), with no sweeper running.

Someone's hold took every unit of TEA and ran out; nothing has released it yet. Another customer
must still see TEA as available (catalog, product page, cart, API) and be able to add it to the
cart and check out, which releases the hold. On all three databases.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.models import Order, utcnow
from tests.support.factories import add_product, make_staff, place_hold
from tests.support.readers import read, stock
from tests.support.web import add_to_cart, cart_of, checkout, product_ids

LATER = timedelta(minutes=16)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(utcnow() + timedelta(days=1), tick=False)
    return time_machine


@pytest.fixture
def hoarded(session, clock):
    """TEA: 6 units, all in someone's hold (threshold 2). The hold's number."""
    add_product(session, "TEA", 6, threshold=2)
    add_product(session, "CUP", 5, threshold=2)
    number = place_hold(session, ("TEA", 6), ("CUP", 2), email="hoarder@example.com").number
    session.rollback()  # end the read of the number: on SQLite its snapshot would hide what clients write
    return number


def badge_of(html: str) -> str:
    return re.search(r'<span class="badge [a-z-]+">([^<]+)</span>', html).group(1)


def card(html: str, sku: str) -> str:
    start = html.index(f'<span class="sku">{sku}</span>')
    return html[html.rindex("<li", 0, start) : html.index("</li>", start)]


def status_of(session, number):
    return read(session, select(Order.status).where(Order.number == number))


def test_while_the_hold_is_live_its_units_are_not_for_sale(session, client, hoarded):
    assert badge_of(card(client.get("/").text, "TEA")) == "Out of stock"
    assert add_to_cart(client, "TEA", 1).status_code == 422


def test_the_catalog_and_the_product_page_count_an_expired_holds_units(session, client, hoarded, clock):
    clock.shift(LATER)
    tea = card(client.get("/").text, "TEA")
    assert badge_of(tea) == "In stock" and ">Add to cart<" in tea  # 6 units again: above the threshold
    assert badge_of(card(client.get("/").text, "CUP")) == "In stock"  # 3 on hand + 2 held: 5
    page = client.get("/products/TEA").text
    assert badge_of(page) == "In stock" and 'name="sku" value="TEA"' in page
    assert stock(session, "TEA") == 0 and status_of(session, hoarded) == "confirmed"  # reading wrote nothing


def test_add_to_cart_accepts_them_and_the_cart_warns_of_nothing(session, client, hoarded, clock):
    clock.shift(LATER)
    response = add_to_cart(client, "TEA", 4)
    assert response.status_code == 302
    assert cart_of(client) == [[product_ids(client, ["TEA"])["TEA"], 4]]
    assert "line-problem" not in client.get("/cart").text


def test_another_customers_checkout_releases_the_hold_and_gets_the_units(session, client, hoarded, clock):
    clock.shift(LATER)
    response = checkout(client, {"TEA": 4}, email="grace@example.com")
    assert response.status_code == 302
    assert status_of(session, hoarded) == "cancelled"  # released, as hold_expired
    assert stock(session, "TEA") == 2


def test_the_api_shows_them_available_to_strangers_and_staff(session, client, api, hoarded, clock):
    _, token = make_staff(session)
    session.rollback()
    clock.shift(LATER)
    anonymous = api.get("/products/TEA").json
    assert anonymous["availability"] == "in_stock" and "stock" not in anonymous
    staff = api.get("/products/TEA", token=token).json
    assert (staff["availability"], staff["stock"]) == ("in_stock", 0)  # staff see what is on hand too
    listed = {p["sku"]: p["availability"] for p in api.get("/products").json["items"]}
    assert listed == {"CUP": "in_stock", "TEA": "in_stock"}
