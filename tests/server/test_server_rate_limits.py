"""Rate limits through real gunicorn workers: with Redis storage the count is one for all workers.

The log-in ceiling per account too, and what it does once per window (an e-mail to the owner) is done
once for all workers.

Each request may land on any of the ``SERVER_WORKERS`` processes; with in-memory storage each
worker would count on its own and let about workers × limit through.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import redis
import requests

from shop.rate_limits import first_breach_in_window
from tests.support.databases import make_app
from tests.support.factories import STAFF_EMAIL, make_user
from tests.support.server import CSRF, TIMEOUT, Server, poll, post_order

pytestmark = pytest.mark.server

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 5
ATTEMPTS = 16


def redis_backed_server(backend_url, database, tmp_path, **settings):
    """A gunicorn of its own, rate limits on, counts in Redis under a key prefix of this test's."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    database.empty()
    (tmp_path / "pause").mkdir()
    server = Server(
        backend_url[1],
        tmp_path / "pause",
        tmp_path / "gunicorn.log",
        RATELIMIT_ENABLED="1",
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=f"shop-test-{uuid.uuid4().hex}",
        **settings,
    )
    try:
        poll(server.ready, timeout=30, interval=0.1, what="gunicorn to answer")
        yield server
    finally:
        server.stop()


@pytest.fixture
def limited_server(backend_url, database, tmp_path):
    yield from redis_backed_server(
        backend_url, database, tmp_path, SHOP_CHECKOUT_RATE_LIMIT=f"{LIMIT} per minute"
    )


@pytest.fixture
def login_limited_server(backend_url, database, tmp_path, smtp_server):
    """Log-ins: a generous limit per address, a ceiling of 3 an hour per account; e-mail to a real SMTP server."""
    yield from redis_backed_server(
        backend_url,
        database,
        tmp_path,
        SHOP_LOGIN_RATE_LIMIT="100 per minute",
        SHOP_LOGIN_ACCOUNT_LIMIT="3 per hour",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_server.port),
    )


def test_the_checkout_limit_holds_across_gunicorn_workers(limited_server, database):
    database.seed({"TEA": 100})

    def attempt(i: int) -> int:
        with requests.Session() as http:
            return post_order(http, limited_server.base, {"TEA": 1}, key=f"k-{i}").status_code

    # All at once: every worker is busy with some of them, so each counts against the one limit.
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        answers = sorted(pool.map(attempt, range(ATTEMPTS)))
    assert answers == [201] * LIMIT + [429] * (ATTEMPTS - LIMIT)
    assert database.scalar("SELECT COUNT(*) FROM orders") == LIMIT
    refused = post_order(requests.Session(), limited_server.base, {"TEA": 1}, key="k-last")
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert (
        requests.get(limited_server.base + "/", timeout=TIMEOUT).status_code == 200
    )  # reads are not limited


def test_the_account_ceiling_holds_across_workers_and_tells_the_owner_once(
    login_limited_server, database, smtp_server
):
    """Guesses at one account spread over every worker: one count in Redis, one e-mail to its owner."""
    with database.session() as session:
        make_user(session)

    def attempt(_: int) -> int:
        with requests.Session() as http:
            page = http.get(login_limited_server.base + "/staff/login", timeout=TIMEOUT).text
            form = {"csrf_token": CSRF.search(page).group(1), "email": STAFF_EMAIL, "password": "guess"}
            return http.post(
                login_limited_server.base + "/staff/login", data=form, timeout=TIMEOUT
            ).status_code

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        answers = sorted(pool.map(attempt, range(ATTEMPTS)))
    assert answers == [401] * 3 + [429] * (ATTEMPTS - 3)
    poll(lambda: smtp_server.messages, timeout=10, what="the e-mail to the account's owner")
    assert [m["To"] for m in smtp_server.messages] == [STAFF_EMAIL]


def test_one_window_is_one_breach_whichever_second_redis_gives_for_its_reset(database_urls):
    """Redis tells a window's reset time to the second, so two refusals of one window may read times a
    second apart: still one first breach (the owner got two e-mails when the times named the marker)."""
    prefix = f"shop-test-{uuid.uuid4().hex}"
    settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    for app in make_app(database_urls("sqlite"), RATELIMIT_ENABLED=True, **settings):
        with app.app_context():
            reset_at = int(time.time()) + 3600
            # What first_breach_in_window reads of Flask-Limiter's RequestLimit: its key and reset time.
            refusals = [
                SimpleNamespace(key=f"{prefix}/login-email:boss@example.com", reset_at=reset_at + s)
                for s in (0, 1, 0)
            ]
            assert [first_breach_in_window(r) for r in refusals] == [True, False, False]
            other = SimpleNamespace(key=f"{prefix}/login-email:ada@example.com", reset_at=reset_at)
            assert first_breach_in_window(other)
