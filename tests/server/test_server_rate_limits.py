"""Rate limits through real gunicorn workers: with Redis storage the count is one for all workers.

Each request may land on any of the ``SERVER_WORKERS`` processes; with in-memory storage each
worker would count on its own and let about workers × limit through.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from tests.support.server import TIMEOUT, Server, poll, post_order

pytestmark = pytest.mark.server

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 5
ATTEMPTS = 16


@pytest.fixture
def limited_server(backend_url, database, tmp_path):
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
        SHOP_CHECKOUT_RATE_LIMIT=f"{LIMIT} per minute",
    )
    try:
        poll(server.ready, timeout=30, interval=0.1, what="gunicorn to answer")
        yield server
    finally:
        server.stop()


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
