"""Attacks on the transport (README, Security): huge bodies, cached customer data, forged proxy headers.

Each written as the attack, through the test client, on all three databases where a database is involved.
"""

from __future__ import annotations

import pytest

from shop.extensions import db
from shop.models import Order, User
from tests.support.api import order_body
from tests.support.databases import ALL_BACKENDS, make_app
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_product, make_staff, make_user
from tests.support.readers import count, counts
from tests.support.web import checkout

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture
def tea(session):
    add_product(session, "TEA", 10)


# -- request bodies over 1 MiB -------------------------------------------------------------------------


def test_two_mib_to_the_login_form_is_refused_with_413_and_writes_nothing(client, session, staff, caplog):
    before = (counts(session), count(session, User))
    response = client.post(
        "/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "padding": "x" * TWO_MIB}
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html" and "too large" in response.text
    assert (counts(session), count(session, User)) == before
    assert client.get("/staff/").status_code == 302  # not logged in


def test_two_mib_anywhere_outside_the_api_is_413(client, session, tea):
    before = counts(session)
    session.rollback()  # end the test's read: on SQLite its snapshot would hide the client's writes
    for path in ("/", "/staff/login", "/orders/AAAA-BBBB-CCCC-DDDD/pay", "/no-such-page"):
        response = client.post(path, data=b"x" * TWO_MIB, content_type="application/x-www-form-urlencoded")
        assert response.status_code in (413, 404, 405), path
        if response.status_code == 413:
            assert "Request too large" in response.text
    assert checkout(client, {"TEA": 1}, name="x" * TWO_MIB).status_code == 413
    assert counts(session) == before


def test_a_body_under_one_mib_still_passes_the_web_but_not_the_api_limit(client, session, tea, api):
    """The API keeps its own, smaller limit (64 KiB): 413 problem+json."""
    response = checkout(client, {"TEA": 1}, name="Ada", email="ada@example.com")
    assert response.status_code == 302
    body = order_body(("TEA", 1), name="x" * 200_000)
    answer = api.post("/orders", body, key="big")
    assert answer.status_code == 413 and answer.mimetype == "application/problem+json"
    assert count(session, Order) == 1


# -- no cache keeps customer data -----------------------------------------------------------------------


def test_order_pages_and_api_order_answers_are_never_cached(client, session, tea, api):
    number = checkout(client, {"TEA": 1}).location.rsplit("/", 1)[1]
    page = client.get(f"/orders/{number}")
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    refused = checkout(
        client, {"TEA": 99}, name="Grace", email="grace@example.com"
    )  # sent back with what was typed
    assert "grace@example.com" in refused.text and refused.headers["Cache-Control"] == "no-store"

    _, token = make_staff(session)
    created = api.post("/orders", order_body(("TEA", 1)), key="k")
    replayed = api.post("/orders", order_body(("TEA", 1)), key="k")
    fetched = api.get(f"/orders/{created.json['number']}")
    changed = api.post(f"/orders/{created.json['number']}/status", {"status": "cancelled"}, token=token)
    for response in (created, replayed, fetched, changed):
        assert response.status_code in (200, 201)
        assert response.headers["Cache-Control"] == "no-store"


def test_the_cart_and_checkout_pages_are_never_cached(client, session, tea):
    """A shared computer's browser, or a proxy, must not keep a cart or the checkout page's details."""
    client.post("/cart/add", data={"sku": "TEA", "quantity": "1"})
    for path in ("/cart", "/checkout"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store", path


# -- SHOP_TRUSTED_PROXIES: ProxyFix ---------------------------------------------------------------------

FORWARDED_HTTPS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
    "X-Forwarded-For": "198.51.100.7",
}


@pytest.fixture(params=ALL_BACKENDS)
def proxied(request, database_urls):
    """The shop behind one reverse proxy (SHOP_TRUSTED_PROXIES=1), log-ins rate-limited at 2 a minute."""
    yield from _shop(database_urls(request.param), proxies=1)


@pytest.fixture(params=ALL_BACKENDS)
def exposed(request, database_urls):
    """The shop with no proxy in front (the default, SHOP_TRUSTED_PROXIES=0)."""
    yield from _shop(database_urls(request.param), proxies=0)


def _shop(url, proxies):
    for app in make_app(
        url,
        SHOP_TRUSTED_PROXIES=proxies,
        RATELIMIT_ENABLED=True,
        SHOP_LOGIN_RATE_LIMIT="2 per minute",
        WTF_CSRF_ENABLED=False,
    ):
        with app.app_context():
            make_user(db.session)
            db.session.remove()
        yield app


def session_cookie_flags(response) -> set[str]:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_behind_a_tls_proxy_hsts_and_secure_cookies_switch_on(proxied):
    client = proxied.test_client()
    page = client.get("/", headers=FORWARDED_HTTPS)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    response = client.post(
        "/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}, headers=FORWARDED_HTTPS
    )
    assert response.status_code == 302
    assert response.location in ("/staff/", "https://shop.example/staff/")
    assert "secure" in session_cookie_flags(response)
    plain = client.get("/", headers={"X-Forwarded-Proto": "http"})  # the proxy says the client used HTTP
    assert "Strict-Transport-Security" not in plain.headers


def test_hsts_covers_subdomains_only_when_told(proxied):
    client = proxied.test_client()
    assert client.get("/", headers=FORWARDED_HTTPS).headers["Strict-Transport-Security"] == "max-age=31536000"
    proxied.config["SHOP_HSTS_INCLUDE_SUBDOMAINS"] = True
    page = client.get("/", headers=FORWARDED_HTTPS)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_without_trusted_proxies_forged_forwarded_headers_are_ignored(exposed):
    client = exposed.test_client()
    page = client.get("/", headers=FORWARDED_HTTPS)
    assert "Strict-Transport-Security" not in page.headers
    response = client.post(
        "/staff/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}, headers=FORWARDED_HTTPS
    )
    assert response.status_code == 302 and "secure" not in session_cookie_flags(response)


def wrong_log_in(client, forwarded_for: str):
    return client.post(
        "/staff/login",
        data={"email": f"guess-{forwarded_for}@example.com", "password": "guess"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy's address, or the attacker's own
    )


def test_behind_a_proxy_the_log_in_limit_counts_per_real_client(proxied, caplog):
    client = proxied.test_client()
    assert [wrong_log_in(client, "203.0.113.1").status_code for _ in range(3)] == [401, 401, 429]
    assert wrong_log_in(client, "203.0.113.2").status_code == 401  # another client behind the same proxy
    assert "203.0.113.1" in caplog.text  # the failed log-ins name the real client


def test_without_trusted_proxies_a_forged_x_forwarded_for_does_not_escape_the_limit(exposed):
    client = exposed.test_client()
    answers = [wrong_log_in(client, f"203.0.113.{n}").status_code for n in range(1, 4)]
    assert answers == [401, 401, 429]


def test_shop_trusted_proxies_must_be_a_count(monkeypatch):
    from shop import create_app

    monkeypatch.setenv("SHOP_TRUSTED_PROXIES", "-1")
    with pytest.raises(RuntimeError, match="SHOP_TRUSTED_PROXIES"):
        create_app({"TESTING": True})
