"""Security checks over every registered route (issue 5): access control, CSRF, cookies, error pages.

Each route of ``app.url_map`` must be classified below; a new route fails these tests until it is.
That the app refuses to start in production without SECRET_KEY is tested in
tests/test_config.py::test_production_refuses_to_start_without_a_secret_key.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from shop.api.auth import issue_token
from shop.api.models import SCOPES
from shop.extensions import db
from shop.models import User
from shop.outbox import EventDelivery, WebhookEndpoint, feed
from tests.support.databases import make_app
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_place, make_user
from tests.support.readers import snapshot
from tests.support.web import checkout, fill_cart, log_in, make_web_app, order_token, product_ids

# Who may call each endpoint, whatever its methods. Classify every new route here.
PUBLIC = {
    "static",  # CSS
    "catalog.index",  # the catalog: pages and search
    "catalog.product",  # a product's page
    "catalog.add_to_cart",  # the cart lives in the visitor's own session
    "catalog.cart",
    "catalog.update_cart",
    "catalog.remove_from_cart",
    "catalog.checkout",  # the checkout page and placing the order (rate-limited)
    "catalog.order",  # order page, keyed by the unguessable number
    "catalog.pay_demo",  # the demo provider's button on the order page (SHOP_DEMO_PAYMENTS)
    "staff.login",  # the login page itself
    "api.create_order",  # customers place orders through the API too
    "api.get_order",
    "api.list_products",
    "api.get_product",
    "api.openapi_document",
    "api.receive_payment",  # the payment provider: signed with SHOP_PAYMENT_SECRET, not a token
    "health.healthz",  # probes: they say nothing but up or not
    "health.readyz",
    "health.metrics_view",  # a 404 without SHOP_METRICS_TOKEN or an address in SHOP_METRICS_ALLOW
    "seo.robots_txt",  # for crawlers
    "seo.sitemap_xml",
}
STAFF_HTML = {  # cookie login through /staff/login
    "staff.logout",
    "staff.stock",
    "staff.product",
    "staff.adjust",
    "staff.edit_product",
    "staff.new_product",
    "staff.orders",
    "staff.release_holds",
    "staff.order_status",
    "staff.movements_csv",
    "staff.transfer",
    "staff.integrations",
    "staff.add_endpoint",
    "staff.set_endpoint_enabled",
    "staff.rotate_endpoint_secret",
    "staff.remove_endpoint",
    "staff.test_endpoint",
    "staff.retry_delivery",
}
# Bearer token, with the scope each needs (shop.api.auth.require_scope).
STAFF_API = {
    "api.set_order_status": "orders:write",
    "api.adjust_product_stock": "stock:write",
    "api.list_movements": "read",
    "api.put_product": "stock:write",
    "api.create_transfer": "stock:write",
    "api.list_events": "read",
    "api.list_webhook_endpoints": "webhooks:write",
    "api.create_webhook_endpoint": "webhooks:write",
    "api.delete_webhook_endpoint": "webhooks:write",
}

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ORDER_TOKEN = re.compile(r'name="order_token" type="hidden" value="([^"]+)"')
LOGIN_PATH = "/staff/login"


def unclassified_endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()} - PUBLIC - STAFF_HTML - set(STAFF_API)


def requests_of(app: Flask, endpoints: set[str], values: dict[str, str]):
    """(method, URL, endpoint) for every method of every rule of ``endpoints``, with dummy arguments."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in endpoints:
            url = adapter.build(rule.endpoint, {name: values[name] for name in rule.arguments})
            for method in sorted(rule.methods):
                yield method, url, rule.endpoint


def staff_html_violations(app: Flask, client, values) -> list[str]:
    """Every staff page or form that answers anything but a redirect to the login page."""
    found = []
    for method, url, _ in requests_of(app, STAFF_HTML, values):
        response = client.open(
            url, method=method, data={"status": "cancelled", "delta": "5", "reason": "restock"}
        )
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not location.startswith(LOGIN_PATH):
            found.append(f"{method} {url} → {response.status_code} {location}")
    return found


def staff_api_violations(
    app: Flask, client, values, authorization: str | None, expected: int, endpoints=STAFF_API
) -> list[str]:
    headers = {"Authorization": authorization} if authorization else {}
    found = []
    for method, url, _ in requests_of(app, set(endpoints), values):
        response = client.open(
            url, method=method, headers=headers, json={"status": "cancelled", "delta": 5, "reason": "restock"}
        )
        automatic_options = method == "OPTIONS" and response.status_code == 200 and not response.data
        if response.status_code != expected and not automatic_options:
            found.append(f"{method} {url} ({authorization}) → {response.status_code}")
    return found


@pytest.fixture
def web_app(database_urls):
    yield from make_web_app(database_urls, "sqlite")


@pytest.fixture
def values(web_app):
    """Arguments of real objects, so a route that forgets its check would answer 200, not 404."""
    client = web_app.test_client()
    response = checkout(client, {"TEA": 1})
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[1]
    return {"sku": "TEA", "number": number, "filename": "shop.css", **INTEGRATION_VALUES}


# The webhook routes' arguments; real rows where the CSRF test needs them (``integration_rows``).
INTEGRATION_VALUES = {"endpoint_id": 1, "action": "disable", "delivery_id": 1}


# -- (a) access control over every route ------------------------------------------------------------


def test_every_route_is_classified_as_public_staff_page_or_staff_api(web_app):
    assert unclassified_endpoints(web_app) == set(), "classify the new routes in tests/reliability"
    assert not (PUBLIC & STAFF_HTML) and not (PUBLIC & set(STAFF_API))


def test_a_new_route_fails_the_classification_until_it_is_listed(web_app):
    web_app.add_url_rule("/staff/new-report", "staff.new_report", lambda: "report")
    assert unclassified_endpoints(web_app) == {"staff.new_report"}


def test_no_staff_page_or_form_is_reachable_without_a_staff_login(web_app, values):
    assert staff_html_violations(web_app, web_app.test_client(), values) == []
    before = snapshot(web_app)
    # A logged-in account that is not staff is the same as nobody.
    with web_app.app_context():
        customer = make_user(db.session, "customer@example.com", "customer-password", is_staff=False)
        customer_id = customer.id
    client = web_app.test_client()
    assert log_in(client, "customer@example.com", "customer-password").status_code == 401
    with client.session_transaction() as session:  # even with a session cookie naming that account
        session["_user_id"] = str(customer_id)
        session["_fresh"] = True
    assert staff_html_violations(web_app, client, values) == []
    assert snapshot(web_app) == before


def test_a_new_staff_page_is_guarded_without_a_decorator_of_its_own(web_app):
    """The login check is the staff blueprint's before_request: a forgotten decorator opens nothing."""
    web_app.add_url_rule("/staff/new-report", "staff.new_report", lambda: "customer e-mails")
    response = web_app.test_client().get("/staff/new-report")
    assert response.status_code == 302 and response.headers["Location"].startswith(LOGIN_PATH)


def test_staff_api_routes_need_a_live_staff_token(web_app, values):
    with web_app.app_context():
        staff = db.session.scalar(db.select(User).where(User.email == STAFF_EMAIL))
        _, revoked = issue_token(db.session, staff, "to be revoked")
        customer = User(email="customer@example.com", is_staff=False, password_hash="!")
        _, customer_token = issue_token(db.session, customer, "not staff")
        db.session.commit()
    result = web_app.test_cli_runner().invoke(args=["staff", "revoke-token", STAFF_EMAIL])
    assert result.exit_code == 0, result.output
    before = snapshot(web_app)
    client = web_app.test_client()
    assert staff_api_violations(web_app, client, values, None, 401) == []
    assert staff_api_violations(web_app, client, values, "Bearer shop_not-a-real-token", 401) == []
    assert staff_api_violations(web_app, client, values, "Basic c3RhZmY6cGFzcw==", 401) == []
    assert staff_api_violations(web_app, client, values, f"Bearer {revoked}", 401) == []
    assert staff_api_violations(web_app, client, values, f"Bearer {customer_token}", 403) == []
    assert snapshot(web_app) == before


def test_every_staff_api_route_refuses_a_token_without_its_scope(web_app, values):
    """A token with every scope but the one a route needs gets 403 insufficient_scope there, and changes nothing."""
    with web_app.app_context():
        staff = db.session.scalar(db.select(User).where(User.email == STAFF_EMAIL))
        tokens = {
            scope: issue_token(db.session, staff, f"all but {scope}", scopes=set(SCOPES) - {scope})[1]
            for scope in SCOPES
        }
        db.session.commit()
    before = snapshot(web_app)
    client = web_app.test_client()
    for endpoint, scope in STAFF_API.items():
        assert scope in SCOPES
        assert staff_api_violations(web_app, client, values, f"Bearer {tokens[scope]}", 403, {endpoint}) == []
    assert snapshot(web_app) == before


def test_a_staff_login_cookie_does_not_open_the_staff_api(web_app, values):
    client = web_app.test_client()
    assert log_in(client).status_code == 302
    assert staff_api_violations(web_app, client, values, None, 401) == []


def test_public_routes_answer_anonymous_requests_without_a_server_error(web_app, values):
    client = web_app.test_client()
    for method, url, _endpoint in requests_of(web_app, PUBLIC, values):
        with client.open(url, method=method, buffered=True) as response:
            assert response.status_code < 500, (method, url, response.status_code)


# -- (b) CSRF on every HTML form --------------------------------------------------------------------

# A valid submission of each form (without its CSRF token). A new POST route must be added here.
# ``v`` holds real arguments (a SKU, an order number, the id of the product in the cart).
VALID_POSTS = {
    "catalog.add_to_cart": lambda v, token: {"sku": "TEA", "quantity": "1"},
    "catalog.update_cart": lambda v, token: {f"qty-{v['tea_id']}": "2", "update": "1"},
    "catalog.remove_from_cart": lambda v, token: {"remove": str(v["tea_id"])},
    "catalog.checkout": lambda v, token: {
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "order_token": token,
        "place": "1",
    },
    "staff.adjust": lambda v, token: {"delta": "5", "reason": "restock"},
    "staff.transfer": lambda v, token: {"quantity": "2", "source": "main", "target": "floor"},
    "staff.add_endpoint": lambda v, token: {"url": "https://93.184.216.34/hooks", "description": "ERP"},
    "staff.set_endpoint_enabled": lambda v, token: {},
    "staff.rotate_endpoint_secret": lambda v, token: {},
    "staff.remove_endpoint": lambda v, token: {},
    "staff.test_endpoint": lambda v, token: {},  # to a private address: refused at once, no request
    "staff.retry_delivery": lambda v, token: {},
    "staff.edit_product": lambda v, token: {
        "name": "Tea",
        "price": "1.00",
        "low_stock_threshold": "1",
        "max_per_order": "3",
        "status": "discontinued",
    },
    "staff.new_product": lambda v, token: {
        "sku": f"NEW-{token[:8]}",
        "name": "New",
        "price": "1.00",
        "initial_stock": "5",
        "low_stock_threshold": "1",
        "status": "active",
    },
    "staff.release_holds": lambda v, token: {},
    "catalog.pay_demo": lambda v, token: {},
    "staff.order_status": lambda v, token: {"status": "cancelled"},
    "staff.logout": lambda v, token: {},
    "staff.login": lambda v, token: {"email": STAFF_EMAIL, "password": STAFF_PASSWORD},
}


@pytest.fixture
def csrf_app(database_urls):
    yield from make_web_app(database_urls, "sqlite", csrf=True)


def integration_rows(app) -> dict[str, dict[str, int]]:
    """A second location, two webhook endpoints (one to keep, one to remove) and a pending delivery.

    Each form acts on its own row, since removing an endpoint takes its deliveries with it. The kept
    endpoint points at a private address, so that its test ping is refused before any request is made.
    """
    with app.app_context():
        add_place(db.session, "floor", priority=1)
        kept = WebhookEndpoint(url="https://127.0.0.1/hook", description="kept", secret="whsec_" + "a" * 32)
        doomed = WebhookEndpoint(
            url="https://127.0.0.1/gone", description="doomed", secret="whsec_" + "b" * 32
        )
        db.session.add_all([kept, doomed])
        db.session.commit()
        feed.sequence(db.session)  # the checkout's events fan out to both endpoints
        db.session.commit()
        pending = db.session.scalar(
            db.select(EventDelivery.id).where(EventDelivery.endpoint_id == kept.id).order_by(EventDelivery.id)
        )
        arguments = {"endpoint_id": kept.id, "delivery_id": pending}
        return {
            "staff.set_endpoint_enabled": arguments | {"action": "disable"},
            "staff.rotate_endpoint_secret": arguments,
            "staff.test_endpoint": arguments,
            "staff.retry_delivery": arguments,
            "staff.remove_endpoint": {"endpoint_id": doomed.id},
        }


def test_every_html_form_refuses_a_post_without_a_csrf_token(csrf_app):
    client = csrf_app.test_client()

    def with_token(path, data):
        return client.post(path, data={**data, "csrf_token": CSRF.search(client.get("/").text).group(1)})

    assert with_token("/cart/add", VALID_POSTS["catalog.add_to_cart"](None, None)).status_code == 302
    page = client.get("/checkout").text
    response = with_token(
        "/checkout", VALID_POSTS["catalog.checkout"](None, ORDER_TOKEN.search(page).group(1))
    )
    assert response.status_code == 302
    values = {
        "sku": "TEA",
        "number": response.headers["Location"].rsplit("/", 1)[1],
        "tea_id": product_ids(client, ["TEA"])["TEA"],
    }
    response = client.post(
        LOGIN_PATH,
        data={
            **VALID_POSTS["staff.login"](values, None),
            "csrf_token": CSRF.search(client.get(LOGIN_PATH).text).group(1),
        },
    )
    assert response.status_code == 302  # logged in, so only the missing token can refuse the staff forms
    arguments = integration_rows(csrf_app)
    adapter = csrf_app.url_map.bind("localhost")
    rules = [
        r for r in csrf_app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")
    ]
    assert {r.endpoint for r in rules} == set(VALID_POSTS), "give each new form a valid submission above"
    for rule in sorted(rules, key=lambda r: r.endpoint == "staff.logout"):  # log out last
        own = values | arguments.get(rule.endpoint, {})
        url = adapter.build(rule.endpoint, {name: own[name] for name in rule.arguments})
        fill_cart(client, {"TEA": 1})  # what the cart forms and the checkout act on
        data = VALID_POSTS[rule.endpoint](values, order_token(client))
        before = snapshot(csrf_app)
        response = client.post(url, data=data)
        assert response.status_code == 400, (url, response.status_code)
        assert "did not come from this site" in response.text
        assert snapshot(csrf_app) == before, url
        assert with_token(url, data).status_code == 302, url  # the same form, with its token


def test_a_login_without_a_csrf_token_does_not_log_in(csrf_app):
    client = csrf_app.test_client()
    assert client.post(LOGIN_PATH, data=VALID_POSTS["staff.login"](None, None)).status_code == 400
    assert client.get("/staff/").status_code == 302


# -- (c) session cookie flags, (d) no debug pages ---------------------------------------------------


@pytest.fixture
def production_app(monkeypatch, database_urls):
    """The app as configured in production: SHOP_ENV and SECRET_KEY from the environment, no TESTING."""
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-0123456789")
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    for app in make_app(database_urls("sqlite")):
        app.config["TESTING"] = False
        with app.app_context():
            make_user(db.session)
        yield app


def login_cookie(client, base_url: str) -> str:
    """The Set-Cookie header of a staff login through the form, CSRF token and all."""
    page = client.get(LOGIN_PATH, base_url=base_url).text
    response = client.post(
        LOGIN_PATH,
        base_url=base_url,
        headers={"Referer": f"{base_url}{LOGIN_PATH}"},
        data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": CSRF.search(page).group(1)},
    )
    assert response.status_code == 302, response.status_code
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def cookie_flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]} | {
        part.strip().lower() for part in cookie.split(";")[1:] if part.strip().lower().startswith("samesite")
    }


def test_the_production_session_cookie_is_secure_http_only_and_same_site(production_app):
    assert not production_app.debug and not production_app.testing
    flags = cookie_flags(login_cookie(production_app.test_client(), "https://shop.example"))
    assert {"secure", "httponly", "samesite=lax"} <= flags, flags


@pytest.fixture
def development_app(monkeypatch, database_urls):
    monkeypatch.delenv("SHOP_ENV", raising=False)
    yield from make_web_app(database_urls, "sqlite", csrf=True)


def test_the_development_session_cookie_works_over_plain_http(development_app):
    flags = cookie_flags(login_cookie(development_app.test_client(), "http://localhost"))
    assert "secure" not in flags and {"httponly", "samesite=lax"} <= flags, flags


def test_a_crash_in_production_is_a_friendly_500_without_debug_details(production_app):
    def explode():
        raise RuntimeError("internal detail: password=hunter2 at /srv/shop/secret.py")

    production_app.add_url_rule("/explode-for-test", "explode_for_test", explode)
    assert not production_app.debug
    assert not production_app.config["PROPAGATE_EXCEPTIONS"]
    response = production_app.test_client().get("/explode-for-test")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "Something went wrong" in response.text
    for leak in (
        "Traceback",
        "RuntimeError",
        "hunter2",
        "secret.py",
        "Werkzeug Debugger",
        "__traceback_hide__",
    ):
        assert leak not in response.text
