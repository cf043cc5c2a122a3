"""The cart at ``/cart``: adding, quantities, removing, warnings read without locks, and carts that
cannot be read (dropped with a message, never a 500)."""

from __future__ import annotations

import re
import warnings

import pytest
from sqlalchemy import update

from shop.models import Inventory, Product
from shop.web.catalog.cart import MAX_CART_LINES
from tests.support.readers import counts
from tests.support.web import add_to_cart, cart_of, fill_cart, flashes, product_ids


@pytest.fixture
def catalog(catalog):
    """The storefront's products, CUP limited to 3 per order."""
    catalog.execute(update(Product).where(Product.sku == "CUP").values(max_per_order=3))
    catalog.commit()
    return catalog


def ids(client, *skus):
    found = product_ids(client, skus)
    return [found[sku] for sku in skus]


def badge(html: str) -> str:
    return re.search(r'<span class="cart-count[^"]*">(\d+)</span>', html).group(1)


def line(html: str, sku: str) -> str:
    """The cart's table row of ``sku``."""
    start = html.rindex("<tr", 0, html.index(f'data-sku="{sku}"'))
    return html[start : html.index("</tr>", start)]


# -- adding ------------------------------------------------------------------------------------------


def test_add_to_cart_puts_the_product_in_the_cart_and_the_badge_counts_it(client, catalog):
    assert badge(client.get("/").text) == "0"
    assert add_to_cart(client, "TEA", 2).status_code == 302
    assert add_to_cart(client, "CUP", 1).status_code == 302
    assert add_to_cart(client, "TEA", 3).status_code == 302  # the same product again: one line, more of it
    tea, cup = ids(client, "TEA", "CUP")
    assert cart_of(client) == [[tea, 5], [cup, 1]]
    page = client.get("/").text
    assert badge(page) == "6" and '<span class="visually-hidden"> items</span>' in page


@pytest.mark.parametrize(
    "quantity, error",
    [
        ("0", "Enter a whole number from 1 to 10000."),
        ("-1", "Enter a whole number from 1 to 10000."),
        ("10001", "Enter a whole number from 1 to 10000."),
        ("9" * 400, "Enter a whole number from 1 to 10000."),
        ("", "Enter a whole number from 1 to 10000."),
        ("abc", "Not a valid integer value."),
        ("1.5", "Not a valid integer value."),
    ],
)
def test_a_bad_quantity_shows_the_product_page_again_with_the_error(client, catalog, quantity, error):
    response = add_to_cart(client, "TEA", quantity)
    assert response.status_code == 422
    assert f"Please check the quantity: {error}" in flashes(response.text)
    assert re.search(r'<p class="field-error" id="qty-\d+-error">', response.text)
    assert 'aria-invalid="true"' in response.text
    assert cart_of(client) is None


@pytest.mark.parametrize(
    "sku, why",
    [
        ("POT", "out of stock"),
        ("GIFT", "out of stock"),
        ("KETTLE", "temporarily unavailable"),
        ("SCALE", "discontinued"),
    ],
)
def test_a_product_that_cannot_be_ordered_is_not_added(client, catalog, sku, why):
    response = add_to_cart(client, sku, 1)
    assert response.status_code == 422
    assert f"Sorry, Product {sku} can" in flashes(response.text) and f"({why})" in flashes(response.text)
    assert cart_of(client) is None


def test_an_unknown_or_missing_product_is_not_added(client, catalog):
    assert add_to_cart(client, "NOPE", 1).status_code == 404
    assert client.post("/cart/add", data={"quantity": "1"}).status_code == 400
    assert client.post("/cart/add", data={"sku": "NOPE", "quantity": "x"}).status_code == 400
    assert cart_of(client) is None


def test_more_than_10000_of_one_product_is_refused(client, catalog):
    fill_cart(client, {"TEA": 9_999})
    response = add_to_cart(client, "TEA", 2)
    assert response.status_code == 422
    assert "You can have at most 10000 of one product in your cart (you have 9999 already)." in flashes(
        response.text
    )
    assert cart_of(client) == [[ids(client, "TEA")[0], 9_999]]


def test_the_cart_holds_at_most_100_different_products(client, session):
    session.add_all(
        Product(sku=f"P{i:03}", name=f"Product {i}", price_cents=100, inventory=Inventory(quantity=5))
        for i in range(MAX_CART_LINES + 1)
    )
    session.commit()
    fill_cart(client, {f"P{i:03}": 1 for i in range(MAX_CART_LINES)})
    response = add_to_cart(client, f"P{MAX_CART_LINES:03}", 1)
    assert response.status_code == 422
    assert "Your cart is full: it holds at most 100 different products." in flashes(response.text)
    assert len(cart_of(client)) == MAX_CART_LINES
    assert add_to_cart(client, "P000", 1).status_code == 302  # more of a product it holds is fine
    page = client.get("/cart")
    assert page.status_code == 200 and len(re.findall(r'class="cart-line', page.text)) == MAX_CART_LINES


# -- the cart page -----------------------------------------------------------------------------------


def test_an_empty_cart_says_so(client, catalog):
    html = client.get("/cart").text
    assert "Your cart is empty." in html and "Browse the catalog" in html


def test_the_cart_shows_each_line_with_its_quantity_and_the_subtotal(client, catalog):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    html = client.get("/cart").text
    tea, cup = ids(client, "TEA", "CUP")
    assert re.search(rf'id="qty-{tea}" name="qty-{tea}"[^>]*value="3"', html)
    assert re.search(rf'<label class="visually-hidden" for="qty-{cup}">Quantity of Product CUP</label>', html)
    assert "€37.50" in line(html, "TEA") and "€16.00" in line(html, "CUP")
    assert re.search(r'class="num grand cart-subtotal">€53.50<', html)
    assert 'value="Update cart"' in html and 'value="Checkout"' in html
    assert re.search(
        rf'form="cart-remove" name="remove" value="{tea}">Remove<span class="visually-hidden"> Product TEA',
        html,
    )
    assert "line-problem" not in html


def test_every_line_that_cannot_be_served_now_says_why(client, catalog, session):
    fill_cart(client, {"TEA": 11, "CUP": 3, "POT": 1, "KETTLE": 1, "SCALE": 1, "GIFT": 1})
    with client.session_transaction() as cookie:
        cookie["cart"] = [*cookie["cart"], [987654, 2]]  # a product that is gone
    session.execute(update(Product).where(Product.sku == "CUP").values(max_per_order=2))
    session.commit()
    before = counts(session)
    session.rollback()  # end the test's read before the client's request
    html = client.get("/cart").text
    expected = {
        "TEA": ["Not enough in stock right now."],  # 10 left: above its low-stock threshold, not told
        "CUP": ["Only 2 left right now.", "At most 2 per order."],  # at its threshold: told, as the badge
        "POT": ["Out of stock right now."],
        "KETTLE": ["Temporarily unavailable."],
        "SCALE": ["Discontinued: it can no longer be ordered."],
        "GIFT": ["Out of stock."],
        "": ["This product is no longer sold."],
    }
    for sku, problems in expected.items():
        row = line(html, sku)
        assert re.findall(r'<p class="line-problem"[^>]*>([^<]+)</p>', row) == problems, sku
        assert 'aria-describedby="problem-' in row and "has-problem" in row
    assert "A product that is no longer sold" in line(html, "")
    assert counts(session) == before  # read without writing


def test_update_cart_sets_quantities_and_zero_removes_a_line(client, catalog):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    tea, cup = ids(client, "TEA", "CUP")
    response = client.post("/cart", data={f"qty-{tea}": "5", f"qty-{cup}": "0", "update": "Update cart"})
    assert (response.status_code, response.location) == (302, "/cart")
    assert cart_of(client) == [[tea, 5]]
    assert "Your cart is updated." in flashes(client.get("/cart").text)


def test_checkout_from_the_cart_saves_the_quantities_first(client, catalog):
    fill_cart(client, {"TEA": 3})
    [tea] = ids(client, "TEA")
    response = client.post("/cart", data={f"qty-{tea}": "4", "checkout": "Checkout"})
    assert (response.status_code, response.location) == (302, "/checkout")
    assert cart_of(client) == [[tea, 4]]


def test_fields_of_other_products_are_ignored_and_lines_not_sent_are_kept(client, catalog):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    tea, cup, pot = ids(client, "TEA", "CUP", "POT")
    client.post("/cart", data={f"qty-{tea}": "1", f"qty-{pot}": "7", "qty-x": "1", "update": "1"})
    assert cart_of(client) == [[tea, 1], [cup, 2]]


@pytest.mark.parametrize(
    "value, error",
    [
        ("-1", "Enter a whole number from 0 to 10000."),
        ("10001", "Enter a whole number from 0 to 10000."),
        ("", "Enter a whole number from 0 to 10000."),
        ("two", "Not a valid integer value."),
    ],
)
def test_a_bad_quantity_in_the_cart_changes_nothing_and_is_named(client, catalog, value, error):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    tea, cup = ids(client, "TEA", "CUP")
    response = client.post("/cart", data={f"qty-{tea}": value, f"qty-{cup}": "1", "update": "1"})
    assert response.status_code == 422
    assert f"Please check the quantities: Product TEA: {error}" in flashes(response.text)
    assert re.search(rf'id="qty-{tea}"[^>]*value="{re.escape(value)}"[^>]*aria-invalid="true"', response.text)
    assert cart_of(client) == [[tea, 3], [cup, 2]]


def test_remove_takes_one_line_out(client, catalog):
    fill_cart(client, {"TEA": 3, "CUP": 2})
    tea, cup = ids(client, "TEA", "CUP")
    response = client.post("/cart/remove", data={"remove": str(tea)})
    assert (response.status_code, response.location) == (302, "/cart")
    assert cart_of(client) == [[cup, 2]]
    assert "Removed Product TEA from your cart." in flashes(client.get("/cart").text)
    assert client.post("/cart/remove", data={"remove": "424242"}).status_code == 302  # not in the cart
    assert client.post("/cart/remove", data={"remove": "x"}).status_code == 400
    assert cart_of(client) == [[cup, 2]]


def test_pressing_enter_in_a_quantity_updates_the_cart_instead_of_removing(client, catalog):
    """The "Remove" buttons belong to another form: the cart form's first button is "Update cart"."""
    fill_cart(client, {"TEA": 3})
    html = client.get("/cart").text
    form = html[
        html.index('<form id="cart-form"') : html.index("</form>", html.index('<form id="cart-form"'))
    ]
    buttons = re.findall(r'<(?:input|button)[^>]*type="submit"[^>]*>', form)
    owned = [b for b in buttons if 'form="' not in b]  # a button with a form attribute belongs to that form
    assert 'value="Update cart"' in owned[0]
    assert all('form="cart-remove"' in b for b in buttons if 'name="remove"' in b)


# -- carts that cannot be read ----------------------------------------------------------------------


BAD_CARTS = [
    "garbage",
    {"1": 2},
    [[1]],
    [[1, 2, 3]],
    [["1", 2]],
    [[1, "2"]],
    [[1, 2.5]],
    [[1, True]],
    [[0, 1]],
    [[-4, 1]],
    [[1, 0]],
    [[1, -1]],
    [[1, 10_001]],
    [[2**40, 1]],
    [[1, 1], [1, 2]],
    [[i, 1] for i in range(1, MAX_CART_LINES + 2)],
    [[i, 1] for i in range(1, 5_001)],
    [None],
]


@pytest.mark.parametrize(
    "bad, path",
    [(bad, "/cart") for bad in BAD_CARTS]
    + [(BAD_CARTS[0], path) for path in ("/", "/checkout", "/products/TEA")],
    ids=[f"cart-{i}" for i in range(len(BAD_CARTS))] + ["catalog", "checkout", "product"],
)
def test_a_cart_that_cannot_be_read_is_dropped_with_a_message(client, catalog, bad, path):
    with warnings.catch_warnings(), client.session_transaction() as cookie:
        warnings.simplefilter(
            "ignore"
        )  # 5,000 lines make a cookie no browser keeps; a client may still send it
        cookie["cart"] = bad
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert "We couldn't read your cart, so it was emptied." in flashes(response.text).replace("&#39;", "'")
    assert cart_of(client) is None
    assert badge(response.text) == "0"
    assert add_to_cart(client, "TEA", 1).status_code == 302  # and the shop goes on


def test_a_cart_that_cannot_be_read_is_dropped_when_adding_too(client, catalog):
    with client.session_transaction() as cookie:
        cookie["cart"] = [[1, -1]]
    response = add_to_cart(client, "TEA", 2)
    assert response.status_code == 302
    assert cart_of(client) == [[ids(client, "TEA")[0], 2]]


def test_a_forged_or_expired_session_cookie_starts_an_empty_cart_with_a_message(client, catalog):
    fill_cart(client, {"TEA": 2})
    client.set_cookie("session", "eyJjYXJ0IjpbWzEsOTk5XV19.forged.signature")
    response = client.get("/cart")
    assert response.status_code == 200
    assert "Your session had expired or could not be read, so your cart starts empty." in flashes(
        response.text
    )
    assert "Your cart is empty." in response.text
    assert "Your session had expired" not in flashes(client.get("/cart").text)  # a new, readable cookie now


def test_an_oversized_garbage_cookie_starts_an_empty_cart(client, catalog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cookie no browser would keep; a client may still send it
        client.set_cookie("session", "x" * 20_000)
    response = client.get("/cart")
    assert response.status_code == 200 and "Your cart is empty." in response.text
