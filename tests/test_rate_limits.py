"""Rate limits (Flask-Limiter, in-memory storage): anonymous checkouts and log-in attempts per client.

The suite runs with limits off (tests/conftest.py); these tests turn them on in their app. The
same limits shared by gunicorn workers through Redis: tests/server/test_server_rate_limits.py.
"""

from __future__ import annotations

import re

import pytest

from shop.extensions import db
from shop.models import Order
from tests.support.api import order_body
from tests.support.databases import ALL_BACKENDS, make_app
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_product, make_staff, make_user
from tests.support.readers import count, stock_of
from tests.support.receivers import text_of

LIMITS = {
    "SHOP_CHECKOUT_RATE_LIMIT": "3 per minute",
    "SHOP_LOGIN_RATE_LIMIT": "2 per minute",
    "SHOP_LOGIN_ACCOUNT_LIMIT": "3 per hour",
}


@pytest.fixture(params=ALL_BACKENDS)
def limited(request, database_urls):
    """An app with rate limits on (the limiter reads RATELIMIT_ENABLED when the app is created)."""
    yield from make_app(
        database_urls(request.param), RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=False, **LIMITS
    )


@pytest.fixture
def session(limited):
    with limited.app_context():
        add_product(db.session, "TEA", 100)
        make_user(db.session)
        db.session.rollback()
        yield db.session
        db.session.rollback()


@pytest.fixture
def shop(limited, session):
    return limited.test_client()


def web_checkout(client, address="10.0.0.1"):
    """Add a tea to the cart and place it from the checkout page (its form's POST is the one limited)."""
    environ = {"REMOTE_ADDR": address}
    assert (
        client.post("/cart/add", data={"sku": "TEA", "quantity": "1"}, environ_base=environ).status_code
        == 302
    )
    page = client.get("/checkout", environ_base=environ).text
    data = {
        "order_token": re.search(r'name="order_token" type="hidden" value="([^"]+)"', page).group(1),
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "place": "1",
    }
    return client.post("/checkout", data=data, environ_base=environ)


def api_checkout(client, key, address="10.0.0.1", token=None):
    headers = {"Idempotency-Key": key, **({"Authorization": f"Bearer {token}"} if token else {})}
    return client.post(
        "/api/v1/orders", json=order_body(("TEA", 1)), headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def test_anonymous_checkouts_over_the_limit_get_429_and_write_nothing(session, shop):
    answers = [api_checkout(shop, f"k{i}").status_code for i in range(3)]
    before = (count(session, Order), stock_of(session, "TEA"))
    refused_api = api_checkout(shop, "k9")
    refused_web = web_checkout(shop)  # web and API share one count per address
    assert answers == [201, 201, 201]
    assert refused_api.status_code == 429 and refused_api.mimetype == "application/problem+json"
    assert refused_api.json["code"] == "rate_limited" and 0 < int(refused_api.headers["Retry-After"]) <= 60
    assert refused_web.status_code == 429 and refused_web.mimetype == "text/html"
    assert "Too many orders from your address" in refused_web.text and refused_web.headers["Retry-After"]
    assert (count(session, Order), stock_of(session, "TEA")) == before


def test_the_limit_is_per_client_address(session, shop):
    for i in range(3):
        api_checkout(shop, f"a{i}", address="10.0.0.1")
    assert api_checkout(shop, "a9", address="10.0.0.1").status_code == 429
    assert api_checkout(shop, "b1", address="10.0.0.2").status_code == 201


def test_staff_tokens_are_not_limited(session, shop):
    _, token = make_staff(session, "api@example.com")
    session.rollback()
    assert [api_checkout(shop, f"s{i}", token=token).status_code for i in range(5)] == [201] * 5


def test_a_bad_token_is_refused_with_401_and_never_counted(session, shop):
    refused = [api_checkout(shop, f"w{i}", token="shop_not-a-token") for i in range(5)]
    assert [r.status_code for r in refused] == [401] * 5 and refused[0].json["code"] == "unauthorized"
    assert [api_checkout(shop, f"a{i}").status_code for i in range(3)] == [
        201
    ] * 3  # the address's full count
    assert count(session, Order) == 3


def test_web_checkouts_count_on_their_post_only(session, shop):
    assert [web_checkout(shop).status_code for _ in range(3)] == [302, 302, 302]
    refused = web_checkout(shop)  # the cart and the checkout page still work; placing is refused
    assert refused.status_code == 429 and "Too many orders from your address" in refused.text
    assert count(session, Order) == 3 and stock_of(session, "TEA") == 97


def test_reads_are_not_limited(session, shop):
    assert {shop.get("/").status_code for _ in range(6)} == {200}


def test_log_in_attempts_are_limited_per_address(session, shop):
    tries = [
        shop.post(
            "/staff/login",
            data={"email": f"u{i}@x.y", "password": "wrong"},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        )
        for i in range(3)
    ]
    assert [t.status_code for t in tries] == [401, 401, 429]
    assert "Too many log-in attempts" in tries[-1].text


def log_in_from(client, address, email=STAFF_EMAIL, password="guess"):
    return client.post(
        "/staff/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def test_wrong_passwords_from_one_address_do_not_lock_the_account_out_elsewhere(session, shop):
    """The attack: wrong passwords for the account, as fast as the limit lets them, from one address."""
    attack = [log_in_from(shop, "203.0.113.66").status_code for _ in range(3)]
    assert attack == [401, 401, 429]
    assert log_in_from(shop, "10.0.0.7", password=STAFF_PASSWORD).status_code == 302  # its owner gets in


def test_the_account_ceiling_counts_attempts_from_every_address(session, shop):
    """Guesses spread over many addresses still stop, at SHOP_LOGIN_ACCOUNT_LIMIT (here 3 an hour)."""
    codes = [
        log_in_from(shop, f"10.0.1.{i}", email="Staff@Example.com" if i % 2 else STAFF_EMAIL).status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    refused = log_in_from(shop, "10.0.9.9", password=STAFF_PASSWORD)
    assert refused.status_code == 429 and "Too many log-in attempts" in refused.text


@pytest.fixture(params=ALL_BACKENDS)
def mailed(request, database_urls, smtp_server):
    """Limits on, as ``limited``, and e-mail through a real SMTP server."""
    yield from make_app(
        database_urls(request.param),
        RATELIMIT_ENABLED=True,
        WTF_CSRF_ENABLED=False,
        **LIMITS,
        **smtp_server.config(),
    )


def test_at_the_account_ceiling_the_owner_is_told_once_by_log_and_by_e_mail(mailed, smtp_server, caplog):
    with mailed.app_context():
        make_user(db.session)
        db.session.remove()
    client = mailed.test_client()
    codes = [log_in_from(client, f"10.0.2.{i}", password="Tr0ub4dor&3").status_code for i in range(6)]
    assert codes == [401] * 3 + [429] * 3
    warnings = [r for r in caplog.records if "SHOP_LOGIN_ACCOUNT_LIMIT" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING" and warnings[0].name == "shop.security"
    assert "'staff@example.com'" in warnings[0].getMessage() and "10.0.2.3" in warnings[0].getMessage()
    [message] = smtp_server.messages
    assert (
        message["To"] == STAFF_EMAIL
        and message["Subject"] == "Too many log-in attempts on your staff account"
    )
    text = text_of(message)
    assert "3 per 1 hour" in text and "flask staff set-password" in text and "Tr0ub4dor" not in text


def test_an_address_without_an_account_gets_no_e_mail(mailed, smtp_server, caplog):
    client = mailed.test_client()
    assert [log_in_from(client, f"10.0.3.{i}", email="nobody@example.com").status_code for i in range(5)] == [
        401,
        401,
        401,
        429,
        429,
    ]
    assert "'nobody@example.com'" in caplog.text and smtp_server.messages == []


def test_an_ipv6_client_is_limited_as_its_64(session, shop):
    """Every address of one /64 is one client: hopping between them does not escape the limit."""
    placed = [api_checkout(shop, f"v{i}", address=f"2001:db8:5:6::{i + 1:x}").status_code for i in range(3)]
    assert placed == [201] * 3
    assert api_checkout(shop, "v9", address="2001:db8:5:6:1234:5678:9abc:def0").status_code == 429
    assert api_checkout(shop, "w1", address="2001:db8:5:7::1").status_code == 201  # another /64


def test_ratelimit_enabled_false_turns_the_limits_off(database_urls):
    for app in make_app(database_urls("sqlite"), RATELIMIT_ENABLED=False, **LIMITS):
        with app.app_context():
            add_product(db.session, "TEA", 100)
        client = app.test_client()
        assert [api_checkout(client, f"o{i}").status_code for i in range(5)] == [201] * 5
