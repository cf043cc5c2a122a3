"""Hoarding limits for customers (README, Security): per order, and per client (its address, and its
e-mail) across its live holds.

Each attack is tried as a stranger would, through the storefront's checkout and the anonymous API,
on all three databases. The suite turns the rules off (tests/conftest.py); ``limits`` turns them on
at their defaults. The same attack with concurrent requests: tests/test_hoarding_concurrency.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.clients import email_key
from shop.hoarding import forget_idle_clients
from shop.models import HoldClient, Order, OrderItem, Product, utcnow
from tests.support.api import order_body
from tests.support.factories import add_product, make_staff
from tests.support.readers import orders, read, read_rows, row_count, stock
from tests.support.web import IsolatedClient, checkout, fill_cart, flashes

PRODUCTS = ("TEA", "CUP", "POT", "MUG", "JAR", "BOWL", "TRAY")  # none sets max_per_order


@pytest.fixture
def limits(app):
    """The shop's defaults: 10 units of a product per order, 20 units held per client."""
    app.config.update(SHOP_DEFAULT_MAX_PER_ORDER=10, SHOP_MAX_HELD_UNITS=20)
    return app.config


@pytest.fixture
def shelves(session):
    for sku in PRODUCTS:
        add_product(session, sku, 50)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(utcnow() + timedelta(days=1), tick=False)
    return time_machine


def held_units(session) -> int:
    """Units in live holds, all clients together."""
    live = (Order.status == "confirmed") & (Order.hold_expires_at >= utcnow())
    return read(session, select(func.coalesce(func.sum(OrderItem.quantity), 0)).join(Order).where(live))


def problems_of(response) -> list[tuple[str, str | None]]:
    return [(p["code"], p["sku"]) for p in response.json["problems"]]


def browser_at(app, address: str) -> IsolatedClient:
    """A browser of its own (its own cart) at ``address``."""
    browser = IsolatedClient(app, app.response_class, use_cookies=True)
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


# -- the shop's per-order limit for products that set none ----------------------------------------


def test_one_anonymous_request_can_no_longer_empty_a_product(session, client, api, limits, shelves):
    """The attack of the issue: 146 units of 7 products in one POST. Now every line over 10 is refused."""
    body = order_body(*((sku, 146 // 7) for sku in PRODUCTS))
    response = api.post("/orders", body, key="empty-it")
    assert response.status_code == 409
    assert [(p["code"], p["limit"]) for p in response.json["problems"] if p["sku"]] == [
        ("over_limit", 10)
    ] * 7
    assert row_count(session, Order) == 0 and stock(session, "TEA") == 50


def test_the_storefront_shows_the_shops_limit_where_it_shows_a_products_own(session, client, limits, shelves):
    session.execute(update(Product).where(Product.sku == "CUP").values(max_per_order=3))
    session.commit()
    catalog = client.get("/").text
    for sku, limit in (("TEA", 10), ("CUP", 3)):
        card = catalog[catalog.index(f'<span class="sku">{sku}</span>') :]
        card = card[: card.index("</li>")]
        assert f"limit {limit} per order" in card and f'max="{limit}"' in card, sku
    page = client.get("/products/TEA").text
    assert "<dt>Per order</dt><dd>limit 10 per order</dd>" in page and 'max="10"' in page
    fill_cart(client, {"TEA": 12})
    assert "At most 10 per order." in client.get("/cart").text
    limits.update(SHOP_DEFAULT_MAX_PER_ORDER=0)
    assert "<dt>Per order</dt><dd>no limit</dd>" in client.get("/products/TEA").text


def test_staff_see_that_customers_get_the_shops_limit(session, staff_client, limits, shelves):
    page = staff_client.get("/staff/products/TEA").text
    assert "none set: customers at most 10 (the shop's default)" in page


def test_ten_units_of_a_product_pass_eleven_are_refused_on_the_web_too(session, client, limits, shelves):
    refused = checkout(client, {"TEA": 11})
    assert refused.status_code == 422 and "TEA: 11 requested, at most 10 per order." in flashes(refused.text)
    assert checkout(client, {"TEA": 10}).status_code == 302
    assert stock(session, "TEA") == 40


def test_a_products_own_limit_wins_over_the_default(session, client, api, limits, shelves):
    session.execute(update(Product).where(Product.sku == "TEA").values(max_per_order=15))
    session.commit()
    assert api.post("/orders", order_body(("TEA", 15)), key="own-limit").status_code == 201


def test_staff_tokens_and_the_cli_are_exempt(session, client, api, runner, limits, shelves):
    _, token = make_staff(session)
    assert api.post("/orders", order_body(("TEA", 30), ("CUP", 30)), key="s", token=token).status_code == 201
    session.rollback()
    result = runner.invoke(args=["orders", "place", "--item", "POT:25"])
    assert result.exit_code == 0, result.output
    assert stock(session, "TEA") == 20 and stock(session, "POT") == 25


def test_zero_turns_both_rules_off(session, client, api, limits, shelves):
    limits.update(SHOP_DEFAULT_MAX_PER_ORDER=0, SHOP_MAX_HELD_UNITS=0)
    assert api.post("/orders", order_body(("TEA", 40)), key="off").status_code == 201
    assert checkout(client, {"CUP": 40}).status_code == 302


# -- the units one client holds at once ------------------------------------------------------------


def test_one_address_holds_at_most_20_units_through_the_api(session, client, api, limits, shelves):
    """The attack: with 10 per product, order product after product. The third order is refused."""
    answers = [api.post("/orders", order_body((sku, 10)), key=f"k-{sku}").status_code for sku in PRODUCTS[:3]]
    assert answers == [201, 201, 409]
    refused = api.post("/orders", order_body(("MUG", 1)), key="one-more")
    assert refused.status_code == 409 and problems_of(refused) == [("hold_limit", None)]
    [problem] = refused.json["problems"]
    assert (problem["requested"], problem["limit"]) == (1, 20)
    assert "at most 20 units at once" in problem["message"]
    assert held_units(session) == 20 and stock(session, "POT") == 50
    other = api.post(
        "/orders", order_body(("POT", 10), email="bob@example.com"), key="k-other", address="198.51.100.23"
    )
    assert other.status_code == 201  # another client has room of its own


def test_one_address_holds_at_most_20_units_through_the_web_checkout(session, client, limits, shelves):
    placed = [
        checkout(client, {sku: 9}, email=f"{sku.lower()}@example.com").status_code for sku in PRODUCTS[:3]
    ]
    assert placed == [302, 302, 422]
    refused = checkout(client, {"MUG": 3})
    assert refused.status_code == 422
    assert "Orders from your address or e-mail may hold at most 20 units at once" in flashes(refused.text)
    assert held_units(session) == 18 and len(orders(session)) == 2
    assert checkout(client, {"MUG": 2}).status_code == 302  # exactly 20 is allowed


def test_web_and_api_orders_of_one_address_count_together(session, client, api, limits, shelves):
    assert checkout(client, {"TEA": 10}).status_code == 302
    assert api.post("/orders", order_body(("CUP", 10)), key="api-1").status_code == 201
    assert api.post("/orders", order_body(("POT", 1)), key="api-2").status_code == 409
    assert checkout(client, {"POT": 1}).status_code == 422
    assert held_units(session) == 20


def test_the_hold_limit_is_reported_with_every_other_problem(session, client, api, limits, shelves):
    assert api.post("/orders", order_body(("TEA", 10), ("CUP", 10)), key="first").status_code == 201
    response = api.post("/orders", order_body(("POT", 11), ("NOPE", 1)), key="second")
    assert response.status_code == 409
    assert sorted(problems_of(response), key=str) == sorted(
        [("hold_limit", None), ("over_limit", "POT"), ("unknown_product", "NOPE")], key=str
    )


def test_an_ipv6_client_is_its_64(session, client, api, limits, shelves):
    """A provider gives one subscriber a /64: a new address from it for each order is the same client."""

    def body(*lines, n):
        return order_body(*lines, email=f"ada{n}@example.com")  # an e-mail of its own each time

    first = api.post("/orders", body(("TEA", 10), ("CUP", 10), n=1), key="a", address="2001:db8:7:1::1")
    same = api.post("/orders", body(("POT", 1), n=2), key="b", address="2001:db8:7:1:dead:beef::2")
    other = api.post("/orders", body(("POT", 1), n=3), key="c", address="2001:db8:7:2::1")
    assert [first.status_code, same.status_code, other.status_code] == [201, 409, 201]


def test_paid_and_expired_holds_no_longer_count(session, client, api, limits, shelves, clock):
    first = api.post("/orders", order_body(("TEA", 10), ("CUP", 10)), key="a").json["number"]
    assert api.post("/orders", order_body(("POT", 5)), key="b").status_code == 409
    assert client.post(f"/orders/{first}/pay").status_code == 302  # the demo payment: paid for good
    assert api.post("/orders", order_body(("POT", 10), ("MUG", 10)), key="c").status_code == 201
    assert api.post("/orders", order_body(("JAR", 1)), key="d").status_code == 409
    clock.shift(timedelta(minutes=16))  # the second hold runs out, not released yet: it holds nothing
    assert api.post("/orders", order_body(("JAR", 10)), key="e").status_code == 201


def test_an_order_keeps_its_client_only_while_it_is_a_hold(session, client, api, limits, shelves, clock):
    numbers = [api.post("/orders", order_body((sku, 1)), key=sku).json["number"] for sku in PRODUCTS[:3]]
    _, token = make_staff(session)
    session.rollback()

    def client_of(number):
        return read_rows(
            session, select(Order.client_address, Order.client_email_hash).where(Order.number == number)
        )[0]

    assert {client_of(n) for n in numbers} == {("127.0.0.1", email_key("ada@example.com"))}
    client.post(f"/orders/{numbers[0]}/pay")
    api.post(f"/orders/{numbers[1]}/status", {"status": "cancelled"}, token=token)
    clock.shift(timedelta(minutes=16))
    assert client.post(f"/orders/{numbers[2]}/pay").status_code == 302  # releases the expired hold
    assert [read(session, select(Order.status).where(Order.number == n)) for n in numbers] == [
        "paid",
        "cancelled",
        "cancelled",
    ]
    assert [client_of(n) for n in numbers] == [(None, None)] * 3
    staff_order = api.post("/orders", order_body(("TEA", 1)), key="staff", token=token).json["number"]
    assert client_of(staff_order) == (None, None)  # staff orders are no client's hold


def test_the_worker_forgets_clients_whose_holds_are_over(session, client, api, limits, shelves, app, clock):
    ada, bob = (f"email:{email_key(e)}" for e in ("ada@example.com", "bob@example.com"))
    api.post("/orders", order_body(("TEA", 1)), key="a")
    api.post("/orders", order_body(("TEA", 1), email="bob@example.com"), key="b", address="198.51.100.4")
    assert read_rows(session, select(HoldClient.client).order_by(HoldClient.client)) == sorted(
        [("127.0.0.1",), ("198.51.100.4",), (ada,), (bob,)]
    )
    clock.shift(timedelta(minutes=10))
    api.post("/orders", order_body(("TEA", 1), email="bob@example.com"), key="c", address="198.51.100.4")
    clock.shift(timedelta(minutes=10))  # the first client's last hold ran out; the second's has not
    with app.app_context():
        assert forget_idle_clients() == 2  # the address and the e-mail of the first
    assert read_rows(session, select(HoldClient.client).order_by(HoldClient.client)) == [
        ("198.51.100.4",),
        (bob,),
    ]


# -- the units one e-mail holds at once, from any address ------------------------------------------


def test_one_email_holds_at_most_20_units_from_any_address_through_the_api(session, api, limits, shelves):
    """The attack: a new address for every order (a proxy pool), one e-mail. The third is refused."""
    answers = [
        api.post("/orders", order_body((sku, 10)), key=f"k-{sku}", address=f"198.51.100.{n}").status_code
        for n, sku in enumerate(PRODUCTS[:3], start=1)
    ]
    assert answers == [201, 201, 409]
    refused = api.post("/orders", order_body(("MUG", 1)), key="one-more", address="203.0.113.99")
    assert refused.status_code == 409 and problems_of(refused) == [("hold_limit", None)]
    [problem] = refused.json["problems"]
    assert (problem["requested"], problem["limit"]) == (1, 20)
    assert "your address or e-mail" in problem["message"]
    assert held_units(session) == 20
    other = api.post(
        "/orders", order_body(("MUG", 10), email="bob@example.com"), key="bob", address="203.0.113.99"
    )
    assert other.status_code == 201  # another e-mail from a fresh address has room of its own


def test_one_email_holds_at_most_20_units_from_any_address_through_the_web_checkout(
    session, app, limits, shelves
):
    placed = [
        checkout(browser_at(app, f"198.51.100.{n}"), {sku: 9}).status_code
        for n, sku in enumerate(PRODUCTS[:3], start=1)
    ]
    assert placed == [302, 302, 422]
    refused = checkout(browser_at(app, "203.0.113.99"), {"MUG": 3})
    assert refused.status_code == 422
    assert "Orders from your address or e-mail may hold at most 20 units at once" in flashes(refused.text)
    assert held_units(session) == 18 and len(orders(session)) == 2
    assert checkout(browser_at(app, "203.0.113.100"), {"MUG": 2}).status_code == 302  # exactly 20 is allowed


def test_web_and_api_orders_of_one_email_count_together_however_it_is_spelt(
    session, app, api, limits, shelves
):
    """Spaces around it (the form strips them) and letter case make no other e-mail."""
    web = checkout(browser_at(app, "198.51.100.1"), {"TEA": 10}, email="  Ada@Example.COM ")
    assert web.status_code == 302
    first = api.post(
        "/orders", order_body(("CUP", 10), email="ADA@example.com"), key="a", address="198.51.100.2"
    )
    assert first.status_code == 201
    again = api.post(
        "/orders", order_body(("POT", 1), email="ada@EXAMPLE.com"), key="b", address="198.51.100.3"
    )
    assert again.status_code == 409 and problems_of(again) == [("hold_limit", None)]
    assert checkout(browser_at(app, "198.51.100.4"), {"POT": 1}, email="ada@example.com").status_code == 422
    assert held_units(session) == 20


def test_paying_or_cancelling_frees_the_units_of_the_email(session, client, api, limits, shelves):
    _, token = make_staff(session)
    session.rollback()
    paid = api.post("/orders", order_body(("TEA", 10)), key="a", address="198.51.100.1").json["number"]
    cancelled = api.post("/orders", order_body(("CUP", 10)), key="b", address="198.51.100.2").json["number"]
    assert api.post("/orders", order_body(("POT", 1)), key="c", address="198.51.100.3").status_code == 409
    assert client.post(f"/orders/{paid}/pay").status_code == 302
    assert api.post(f"/orders/{cancelled}/status", {"status": "cancelled"}, token=token).status_code == 200
    again = [
        api.post("/orders", order_body((sku, 10)), key=sku, address="198.51.100.3").status_code
        for sku in ("POT", "MUG", "JAR")
    ]
    assert again == [201, 201, 409]


def test_staff_orders_for_an_email_hold_nothing_against_it(session, api, runner, limits, shelves):
    _, token = make_staff(session)
    session.rollback()
    staff = api.post("/orders", order_body(("TEA", 30), ("CUP", 30)), key="staff", token=token)
    assert staff.status_code == 201 and staff.json["status"] == "confirmed"
    result = runner.invoke(args=["orders", "place", "--item", "POT:25", "--email", "ada@example.com"])
    assert result.exit_code == 0, result.output
    customer = api.post("/orders", order_body(("MUG", 10), ("JAR", 10)), key="ada", address="198.51.100.1")
    assert customer.status_code == 201  # 20 units of its own: the staff's 85 do not count
    assert read_rows(
        session, select(Order.client_email_hash).where(Order.client_email_hash.is_not(None))
    ) == [(email_key("ada@example.com"),)]
