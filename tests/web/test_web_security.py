"""CSRF on every form, security headers, friendly error pages, nothing loaded from elsewhere."""

from __future__ import annotations

import re

import pytest
from flask import abort
from sqlalchemy import select, update

from shop.models import InventoryMovement, Order, Product
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_product
from tests.support.readers import orders, read, row_count, stock
from tests.support.web import cart_of, checkout, fill_cart, flashes

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def tea(session):
    add_product(session, "TEA", 10)
    return session


def token_of(client, path):
    return CSRF.search(client.get(path).text).group(1)


def csrf_log_in(client):
    token = token_of(client, "/staff/login")
    response = client.post(
        "/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def assert_csrf_refused(response):
    assert response.status_code == 400
    assert "This form has expired or did not come from this site." in response.text
    assert "CSRF" not in response.text


def test_checkout_without_a_csrf_token_is_refused_and_writes_nothing(csrf_app, client, tea):
    assert_csrf_refused(checkout(client, {"TEA": 1}))
    assert orders(tea) == [] and stock(tea, "TEA") == 10


def buy_with_tokens(client, sku="TEA", quantity=2):
    """Add to cart and check out as a browser does, each form with the CSRF token of its page."""
    response = client.post(
        "/cart/add",
        data={"csrf_token": token_of(client, f"/products/{sku}"), "sku": sku, "quantity": str(quantity)},
    )
    assert response.status_code == 302, response.status_code
    page = client.get("/checkout").text
    data = {
        "csrf_token": CSRF.search(page).group(1),
        "order_token": re.search(r'name="order_token" type="hidden" value="([^"]+)"', page).group(1),
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "place": "1",
    }
    return client.post("/checkout", data=data)


def test_checkout_with_the_pages_csrf_tokens_goes_through(csrf_app, client, tea):
    assert buy_with_tokens(client, quantity=1).status_code == 302
    assert stock(tea, "TEA") == 9


@pytest.mark.parametrize(
    "path, data",
    [
        ("/cart/add", {"sku": "TEA", "quantity": "1"}),
        ("/cart", {"update": "1"}),
        ("/cart/remove", {"remove": "1"}),
    ],
)
def test_cart_forms_without_a_csrf_token_are_refused(csrf_app, client, tea, path, data):
    fill_cart(client, {"TEA": 2})
    assert_csrf_refused(client.post(path, data=data))
    assert len(cart_of(client)) == 1 and cart_of(client)[0][1] == 2


def test_login_without_a_csrf_token_is_refused(csrf_app, client, staff):
    assert_csrf_refused(client.post("/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}))
    assert client.get("/staff/").status_code == 302


@pytest.mark.parametrize(
    "path, data",
    [
        ("/staff/products/TEA/adjust", {"delta": "5", "reason": "restock"}),
        (
            "/staff/products/TEA/edit",
            {"name": "X", "price": "1", "low_stock_threshold": "1", "status": "discontinued"},
        ),
        (
            "/staff/new-product",
            {"sku": "NEW", "name": "X", "price": "1", "initial_stock": "5", "low_stock_threshold": "1"},
        ),
        ("/staff/logout", {}),
    ],
)
def test_staff_forms_without_a_csrf_token_are_refused(csrf_app, client, staff, tea, path, data):
    csrf_log_in(client)
    before = (row_count(tea, InventoryMovement), row_count(tea, Product))
    assert_csrf_refused(client.post(path, data=data))
    assert (row_count(tea, InventoryMovement), row_count(tea, Product)) == before
    assert client.get("/staff/products/TEA").status_code == 200  # still logged in, product unchanged
    assert read(tea, select(Product.status).where(Product.sku == "TEA")) == "active"


def test_order_buttons_without_a_csrf_token_are_refused(csrf_app, client, staff, tea):
    buy_with_tokens(client)
    [order] = orders(tea)
    csrf_log_in(client)
    assert_csrf_refused(client.post(f"/staff/orders/{order.number}/status", data={"status": "cancelled"}))
    assert stock(tea, "TEA") == 8
    token = token_of(client, "/staff/orders")
    response = client.post(
        f"/staff/orders/{order.number}/status", data={"status": "cancelled", "csrf_token": token}
    )
    assert response.status_code == 302 and stock(tea, "TEA") == 10


@pytest.mark.parametrize("path", ["/", "/cart", "/staff/login", "/no-such-page"])
def test_every_page_sends_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_staff_pages_are_not_cached(staff_client):
    assert staff_client.get("/staff/").headers["Cache-Control"] == "no-store"


def test_pages_load_nothing_from_other_sites(staff_client, tea):
    checkout(staff_client, {"TEA": 1})
    number = orders(tea)[0].number
    fill_cart(staff_client, {"TEA": 1})
    for path in (
        "/",
        "/products/TEA",
        "/cart",
        "/checkout",
        f"/orders/{number}",
        "/staff/",
        "/staff/products/TEA",
        "/staff/orders",
        "/staff/login",
    ):
        html = staff_client.get(path).text
        # A canonical link names the page's own address for search engines; nothing is loaded from it.
        loaded = re.sub(r'<link rel="canonical" href="[^"]*">', "", html)
        assert not re.search(r'(src|href|action)="(https?:)?//', loaded), path
        # Product pages carry JSON-LD, a data block the browser never runs; no other script exists.
        assert set(re.findall(r"<script[^>]*>", html)) <= {'<script type="application/ld+json">'}, path
        assert "style=" not in html, path


def test_an_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.text and "Back to the catalog" in response.text


def test_a_wrong_method_is_a_friendly_405(client):
    response = client.delete("/checkout")
    assert response.status_code == 405
    assert "Method not allowed" in response.text
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert client.post("/").status_code == 405  # the catalog is only read


def test_a_403_is_a_friendly_page(app, client):
    app.add_url_rule("/forbidden-for-test", "forbidden_for_test", lambda: abort(403))
    response = client.get("/forbidden-for-test")
    assert response.status_code == 403
    assert "Access denied" in response.text


def test_a_crash_is_a_friendly_500_without_a_stack_trace(app, client):
    def crash():
        raise RuntimeError("secret internals: password=hunter2")

    app.add_url_rule("/crash-for-test", "crash_for_test", crash)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/crash-for-test")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text


def test_an_error_outside_the_api_is_html_and_inside_it_is_not(client):
    assert client.get("/no-such-page").mimetype == "text/html"
    assert client.get("/api/v1/no-such-thing").mimetype != "text/html"


def test_flash_messages_are_escaped(client, tea):
    response = checkout(client, {"TEA": 1}, name="<script>alert(1)</script>", email="x")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert row_count(tea, Order) == 0
    assert "Please check your details:" in flashes(response.text)
    tea.execute(update(Product).where(Product.sku == "TEA").values(name="<script>alert(2)</script>"))
    tea.commit()
    page = client.post("/cart/add", data={"sku": "TEA", "quantity": "1"}, follow_redirects=True).text
    assert "Added 1 × &lt;script&gt;alert(2)&lt;/script&gt; to your cart." in page
    assert "<script>alert(2)</script>" not in page


def test_the_session_cookie_is_http_only_and_same_site(client, staff):
    response = client.post("/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
