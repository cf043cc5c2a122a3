"""Customers: the catalog at ``/``, checkout, refusals, double submits and the order page."""

from __future__ import annotations

import re
import threading

import pytest

from shop.extensions import db
from shop.models import InventoryMovement, Order
from tests.support.factories import add_product
from tests.support.readers import ledger, orders, row_count, stock
from tests.support.web import checkout, flashes, order_token

NUMBER = re.compile(r"^/orders/([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})$")


@pytest.fixture
def catalog(session):
    add_product(session, "TEA", 10, price_cents=1250, threshold=2)
    add_product(session, "CUP", 2, price_cents=800, threshold=2)
    add_product(session, "POT", 0, threshold=2)
    add_product(session, "KETTLE", 5, status="unavailable")
    add_product(session, "SCALE", 5, status="discontinued")
    add_product(session, "GIFT", None)
    return session


def card(html: str, sku: str) -> str:
    """The product card of ``sku`` in the catalog page."""
    start = html.index(f'<span class="sku">{sku}</span>')
    return html[html.rindex("<li", 0, start) : html.index("</li>", start)]


def test_the_catalog_shows_price_availability_and_a_quantity_field_per_product(client, catalog):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    expected = {
        "TEA": "In stock",
        "CUP": "Only 2 left",
        "POT": "Out of stock",
        "KETTLE": "Temporarily unavailable",
        "SCALE": "Discontinued",
        "GIFT": "Out of stock",
    }
    for sku, badge in expected.items():
        assert re.search(rf'<span class="badge [a-z-]+">{badge}</span>', card(html, sku)), sku
    assert "€12.50" in card(html, "TEA")
    for sku in ("TEA", "CUP"):
        assert f'name="qty-{sku}"' in card(html, sku)
        assert f'<label for="qty-{sku}">Quantity</label>' in card(html, sku)
    for sku in ("POT", "KETTLE", "SCALE", "GIFT"):
        assert "qty-" not in card(html, sku) and "Can't be ordered right now" in card(html, sku)
    assert 'value="Save as draft"' in html and 'value="Place order"' in html


def test_an_empty_catalog_says_so(client):
    assert "The catalog is empty for now" in client.get("/").text


def test_place_order_creates_a_confirmed_order_and_takes_stock(client, catalog, session):
    response = checkout(client, {"TEA": 3, "CUP": 1, "POT": ""})
    assert response.status_code == 302
    number = NUMBER.match(response.location).group(1)
    [order] = orders(session)
    assert (order.number, order.status, order.customer_name, order.customer_email) == (
        number,
        "confirmed",
        "Ada Lovelace",
        "ada@example.com",
    )
    assert (stock(session, "TEA"), stock(session, "CUP")) == (7, 1)
    taken = [(m.reason, m.delta, m.actor, m.order_id) for m in ledger(session, "TEA")]
    assert taken[-1] == ("order_placed", -3, "customer", order.id)
    page = client.get(response.location)
    assert f"Thank you! Your order {number} is placed" in flashes(page.text)


def test_save_as_draft_creates_a_draft_that_takes_no_stock(client, catalog, session):
    response = checkout(client, {"TEA": 3}, button="save_draft")
    assert response.status_code == 302
    [order] = orders(session)
    assert order.status == "draft"
    assert stock(session, "TEA") == 10
    assert f"Your draft order {order.number} is saved" in flashes(client.get(response.location).text)


def test_a_refused_order_names_every_problem_keeps_the_input_and_writes_nothing(client, catalog, session):
    before = [row_count(session, m) for m in (Order, InventoryMovement)]
    response = checkout(
        client,
        {"TEA": 4, "CUP": 5, "POT": 1, "KETTLE": 1, "SCALE": 2},
        name="Ada Lovelace",
        email="ada@example.com",
    )
    assert response.status_code == 422
    message = flashes(response.text)
    assert message.startswith("Error: We couldn't place your order:")
    for problem in (
        "CUP: 5 requested, only 2 available.",
        "POT: 1 requested, only 0 available.",
        "KETTLE is temporarily unavailable.",
        "SCALE is discontinued.",
    ):
        assert problem in message
    assert "TEA" not in message
    html = response.text
    assert re.search(r'id="qty-TEA"[^>]*value="4"', card(html, "TEA"))
    assert re.search(r'id="qty-CUP"[^>]*value="5"', card(html, "CUP"))
    assert 'aria-invalid="true"' in card(html, "CUP") and 'aria-invalid="true"' not in card(html, "TEA")
    assert 'value="Ada Lovelace"' in html and 'value="ada@example.com"' in html
    assert [row_count(session, m) for m in (Order, InventoryMovement)] == before
    assert stock(session, "TEA") == 10


@pytest.mark.parametrize(
    "quantity, error",
    [
        ("-1", "Enter a whole number from 0 to 10000."),
        ("abc", "Not a valid integer value."),
        ("1.5", "Not a valid integer value."),
        ("10001", "Enter a whole number from 0 to 10000."),
    ],
)
def test_bad_quantities_are_refused_with_the_field_marked(client, catalog, session, quantity, error):
    response = checkout(client, {"TEA": quantity})
    assert response.status_code == 422
    assert f"Please check your order: Product TEA: {error}" in flashes(response.text)
    assert re.search(r'<p class="field-error" id="qty-TEA-error">', response.text)
    assert orders(session) == []


def test_an_order_with_no_quantity_is_refused(client, catalog, session):
    response = checkout(client, {"TEA": "0", "CUP": ""})
    assert response.status_code == 422
    assert "Choose a quantity for at least one product." in flashes(response.text)
    assert orders(session) == []


@pytest.mark.parametrize(
    "name, email, error",
    [
        ("", "ada@example.com", "Your name: Please enter your name."),
        ("   ", "ada@example.com", "Your name: Please enter your name."),
        ("Ada", "", "E-mail address: Please enter your e-mail address."),
        ("Ada", "ada.example.com", "E-mail address: Enter an e-mail address like name@example.com."),
        ("Ada", "ada@example", "E-mail address: Enter an e-mail address like name@example.com."),
        ("A" * 201, "ada@example.com", "Your name: Your name can be at most 200 characters."),
    ],
)
def test_customer_details_are_validated(client, catalog, session, name, email, error):
    response = checkout(client, {"TEA": 1}, name=name, email=email)
    assert response.status_code == 422
    assert error in flashes(response.text)
    assert 'aria-invalid="true"' in response.text
    assert orders(session) == []


def test_an_unknown_product_in_the_form_is_named(client, catalog, session):
    response = checkout(client, {"TEA": 1, "GONE": 2})
    assert response.status_code == 422
    assert "There is no product GONE." in flashes(response.text)
    assert orders(session) == [] and stock(session, "TEA") == 10


def test_the_same_form_submitted_twice_creates_one_order(client, catalog, session):
    token = order_token(client)
    first = checkout(client, {"TEA": 2}, token=token)
    second = checkout(client, {"TEA": 2}, token=token)
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    [order] = orders(session)
    assert stock(session, "TEA") == 8
    assert len([m for m in ledger(session, "TEA") if m.reason == "order_placed"]) == 1
    page = client.get(second.location)
    assert f"This order was already submitted: here is order {order.number}." in flashes(page.text)


def test_a_refused_form_keeps_its_order_number_and_can_be_corrected(client, catalog, session):
    token = order_token(client)
    refused = checkout(client, {"CUP": 5}, token=token)
    assert refused.status_code == 422
    assert f'value="{token}"' in refused.text
    placed = checkout(client, {"CUP": 2}, token=token)
    assert placed.status_code == 302
    assert [o.status for o in orders(session)] == ["confirmed"]


def test_each_checkout_form_gets_its_own_order_number(client, catalog, session):
    first, second = order_token(client), order_token(client)
    assert first != second
    checkout(client, {"TEA": 1}, token=first)
    checkout(client, {"TEA": 1}, token=second)
    assert len(orders(session)) == 2 and stock(session, "TEA") == 8


@pytest.mark.parametrize("token", ["", "forged", "IkFBQUEtQkJCQi1DQ0NDLUREREQi.bad-signature"])
def test_a_missing_or_forged_order_number_is_refused(client, catalog, session, token):
    data = {"qty-TEA": "1", "customer_name": "Ada", "customer_email": "ada@example.com", "place": "1"}
    if token:
        data["order_token"] = token
    response = client.post("/", data=data)
    assert response.status_code == 422
    assert "This form has expired; please submit it again." in flashes(response.text)
    assert orders(session) == []


def test_a_double_click_on_the_servers_places_one_order(server_app):
    """Two submissions of one form racing each other: the unique order number lets one win."""
    server_app.config["WTF_CSRF_ENABLED"] = False
    with server_app.app_context():
        add_product(db.session, "TEA", 10)
        db.session.remove()
    client = server_app.test_client()
    token = order_token(client)
    barrier = threading.Barrier(2)
    responses = []

    def submit():
        own = server_app.test_client()
        barrier.wait()
        responses.append(checkout(own, {"TEA": 3}, token=token))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0].location == responses[1].location
    with server_app.app_context():
        assert stock(db.session, "TEA") == 7
        assert len(orders(db.session)) == 1
        db.session.remove()


def test_the_order_page_shows_lines_totals_and_status(client, catalog, session):
    response = checkout(client, {"TEA": 3, "CUP": 2})
    page = client.get(response.location)
    assert page.status_code == 200
    html = page.text
    number = NUMBER.match(response.location).group(1)
    assert f'<h1 class="mono order-number">{number}</h1>' in html
    assert re.search(r"Product TEA.*?>3</td>.*?€12.50.*?€37.50", html, re.S)
    assert re.search(r"Product CUP.*?>2</td>.*?€8.00.*?€16.00", html, re.S)
    assert re.search(r'class="num grand">€53.50<', html)
    assert '<span class="status status-confirmed">confirmed</span>' in html
    assert "Ada Lovelace" in html and "ada@example.com" not in html


def test_the_order_page_accepts_a_lowercase_number(client, catalog):
    response = checkout(client, {"TEA": 1})
    assert client.get(response.location.lower()).status_code == 200


@pytest.mark.parametrize("path", ["/orders/1", "/orders/AAAA-BBBB-CCCC-DDDD", "/orders/%27%20OR%201=1"])
def test_an_unknown_order_number_is_404(client, catalog, path):
    checkout(client, {"TEA": 1})
    response = client.get(path)
    assert response.status_code == 404
    assert "There is no order with that number" in response.text


def test_order_numbers_are_random_not_sequential(client, catalog, session):
    for _ in range(3):
        checkout(client, {"TEA": 1})
    numbers = [o.number for o in orders(session)]
    assert len(set(numbers)) == 3
    assert all(NUMBER.match(f"/orders/{n}") for n in numbers)
    ids = read_ids(session)
    assert not any(
        str(i) in n.replace("-", "") and len(str(i)) > 3 for i, n in zip(ids, numbers, strict=True)
    )


def read_ids(session):
    return [row.id for row in orders(session)]
