"""Checkout at ``/checkout``: the cart placed through ``place_order`` (or saved as a draft), refusals
that name every problem on its line and keep the cart, double submits, and the order page."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import update

from shop.extensions import db
from shop.models import InventoryMovement, Order, Product
from tests.support.factories import add_product
from tests.support.readers import ledger, orders, row_count, stock
from tests.support.web import cart_of, checkout, fill_cart, flashes, order_token

NUMBER = re.compile(r"^/orders/([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})$")


def line(html: str, sku: str) -> str:
    start = html.rindex("<tr", 0, html.index(f'data-sku="{sku}"'))
    return html[start : html.index("</tr>", start)]


def problems_of(html: str, sku: str) -> list[str]:
    return re.findall(r'<p class="line-problem"[^>]*>([^<]+)</p>', line(html, sku))


def test_the_checkout_page_shows_the_lines_the_total_and_the_form(client, catalog):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    response = client.get("/checkout")
    assert response.status_code == 200
    html = response.text
    assert "€37.50" in line(html, "TEA") and "€16.00" in line(html, "CUP")
    assert re.search(r'class="num grand checkout-total">€53.50<', html)
    assert 'value="Place order"' in html and 'value="Save as draft"' in html
    assert '<label for="customer_name">Your name</label>' in html
    assert '<label for="customer_email">E-mail address</label>' in html


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, catalog):
    response = client.get("/checkout")
    assert (response.status_code, response.location) == (302, "/cart")
    assert "Your cart is empty: add something from the catalog first." in flashes(client.get("/cart").text)


def test_place_order_creates_a_confirmed_hold_takes_stock_and_empties_the_cart(client, catalog, session):
    response = checkout(client, {"TEA": 3, "CUP": 1})
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
    assert cart_of(client) is None
    page = client.get(response.location)
    assert f"Thank you! Your order {number} is placed" in flashes(page.text)
    assert "Held for you until" in page.text and "Pay now (demo)" in page.text
    assert re.search(r'<span class="cart-count is-empty">0</span>', page.text)


def test_save_as_draft_creates_a_draft_that_takes_no_stock(client, catalog, session):
    response = checkout(client, {"TEA": 3}, button="save_draft")
    assert response.status_code == 302
    [order] = orders(session)
    assert order.status == "draft"
    assert stock(session, "TEA") == 10
    assert cart_of(client) is None
    assert f"Your draft order {order.number} is saved" in flashes(client.get(response.location).text)


def test_a_refused_order_names_every_problem_on_its_line_keeps_the_cart_and_writes_nothing(
    client, catalog, session
):
    before = [row_count(session, m) for m in (Order, InventoryMovement)]
    fill_cart(client, {"TEA": 4, "CUP": 5, "POT": 1, "KETTLE": 1, "SCALE": 2})
    cart = cart_of(client)
    response = checkout(client)
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
    assert problems_of(html, "TEA") == []
    assert problems_of(html, "CUP") == ["Only 2 left right now."]
    assert problems_of(html, "POT") == ["Out of stock right now."]
    assert problems_of(html, "KETTLE") == ["Temporarily unavailable."]
    assert problems_of(html, "SCALE") == ["Discontinued: it can no longer be ordered."]
    assert 'value="Ada Lovelace"' in html and 'value="ada@example.com"' in html
    assert [row_count(session, m) for m in (Order, InventoryMovement)] == before
    assert stock(session, "TEA") == 10
    assert cart_of(client) == cart


def test_stock_taken_by_another_buyer_between_cart_and_checkout_is_named_on_its_line(
    client, catalog, session
):
    fill_cart(client, {"TEA": 6, "CUP": 1})
    assert "line-problem" not in client.get("/checkout").text  # all fine when the page was shown
    token = order_token(client)
    other = client.application.test_client()
    assert checkout(other, {"TEA": 7}, email="grace@example.com").status_code == 302  # someone else buys
    response = checkout(client, token=token)
    assert response.status_code == 422
    # 3 left is above TEA's low-stock threshold: a stranger is not told how many
    assert problems_of(response.text, "TEA") == ["Not enough in stock right now."]
    assert "TEA: 6 requested, not enough in stock." in flashes(response.text)
    assert stock(session, "TEA") == 3 and len(orders(session)) == 1
    assert len(cart_of(client)) == 2


def test_a_limit_per_order_is_named_with_the_other_problems(client, catalog, session):
    session.execute(update(Product).where(Product.sku == "TEA").values(max_per_order=3))
    session.commit()
    response = checkout(client, {"TEA": 4, "CUP": 3})
    assert response.status_code == 422
    text = flashes(response.text)
    assert "TEA: 4 requested, at most 3 per order." in text and "CUP: 3 requested, only 2 available." in text
    assert problems_of(response.text, "TEA") == ["At most 3 per order."]
    assert stock(session, "TEA") == 10


def test_a_product_that_is_gone_is_named_and_nothing_is_placed(client, catalog, session):
    fill_cart(client, {"TEA": 1})
    with client.session_transaction() as cookie:
        cookie["cart"] = [*cookie["cart"], [987654, 2]]
    response = checkout(client)
    assert response.status_code == 422
    assert "This product is no longer sold." in flashes(response.text)
    assert orders(session) == [] and stock(session, "TEA") == 10


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
    assert orders(session) == [] and cart_of(client) is not None


def test_the_same_form_submitted_twice_creates_one_order(client, catalog, session):
    fill_cart(client, {"TEA": 2})
    token = order_token(client)
    first = checkout(client, token=token)
    second = checkout(client, token=token)  # the cart is empty now: the number finds the order
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    [order] = orders(session)
    assert stock(session, "TEA") == 8
    assert len([m for m in ledger(session, "TEA") if m.reason == "order_placed"]) == 1
    page = client.get(second.location)
    assert f"This order was already submitted: here is order {order.number}." in flashes(page.text)


def test_a_resubmitted_form_with_a_new_cart_still_finds_its_order(client, catalog, session):
    fill_cart(client, {"TEA": 2})
    token = order_token(client)
    first = checkout(client, token=token)
    fill_cart(client, {"CUP": 1})  # back, more shopping, then the old page is sent again
    again = checkout(client, token=token)
    assert again.location == first.location
    assert len(orders(session)) == 1 and stock(session, "CUP") == 2
    assert cart_of(client) is not None  # the new cart is still there to check out


def test_a_refused_form_keeps_its_order_number_and_can_be_corrected(client, catalog, session):
    fill_cart(client, {"CUP": 5})
    token = order_token(client)
    refused = checkout(client, token=token)
    assert refused.status_code == 422
    assert f'value="{token}"' in refused.text
    placed = checkout(client, {"CUP": 2}, token=token)
    assert placed.status_code == 302
    assert [o.status for o in orders(session)] == ["confirmed"]


def test_each_checkout_page_gets_its_own_order_number(client, catalog, session):
    fill_cart(client, {"TEA": 1})
    first, second = order_token(client), order_token(client)
    assert first != second
    checkout(client, token=first)
    checkout(client, {"TEA": 1}, token=second)
    assert len(orders(session)) == 2 and stock(session, "TEA") == 8


@pytest.mark.parametrize("token", ["", "forged", "IkFBQUEtQkJCQi1DQ0NDLUREREQi.bad-signature"])
def test_a_missing_or_forged_order_number_is_refused(client, catalog, session, token):
    fill_cart(client, {"TEA": 1})
    data = {"customer_name": "Ada", "customer_email": "ada@example.com", "place": "1"}
    if token:
        data["order_token"] = token
    response = client.post("/checkout", data=data)
    assert response.status_code == 422
    assert "This form has expired; please submit it again." in flashes(response.text)
    assert orders(session) == []


def test_a_double_click_on_the_servers_places_one_order(server_app):
    """Two submissions of one form racing each other, with the same cart: the unique order number lets one win."""
    server_app.config["WTF_CSRF_ENABLED"] = False
    with server_app.app_context():
        add_product(db.session, "TEA", 10)
        db.session.remove()
    client = server_app.test_client()
    fill_cart(client, {"TEA": 3})
    token = order_token(client)
    cookie = client.get_cookie("session").value
    barrier = threading.Barrier(2)
    responses = []

    def submit():
        own = server_app.test_client()
        own.set_cookie("session", cookie)  # the same browser: the same cart, the same form
        barrier.wait()
        responses.append(checkout(own, token=token))

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


# -- the order page ---------------------------------------------------------------------------------


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
    ids = [row.id for row in orders(session)]
    assert not any(
        str(i) in n.replace("-", "") and len(str(i)) > 3 for i, n in zip(ids, numbers, strict=True)
    )
