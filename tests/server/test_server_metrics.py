"""Metrics through three gunicorn workers: /metrics adds up every worker's counts, exactly.

The server runs with the repository's own gunicorn.conf.py (workers from ``WEB_CONCURRENCY``, the
multiprocess directory, a worker that dies marked dead). Orders and refusals whose outcome the test
knows go through the API and the checkout page from several connections at once, so they land
on every worker; the counts read back from /metrics equal them, also after a worker is killed.
"""

from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.metrics import scrape, value
from tests.support.server import (
    ROOT_GUNICORN_CONF,
    TIMEOUT,
    Server,
    checkout_form,
    poll,
    post_form,
    post_order,
)

pytestmark = pytest.mark.server

TOKEN = "metrics-token-of-the-server-test"


@pytest.fixture
def metrics_server(backend_url, database, tmp_path):
    """The shop under gunicorn.conf.py with 3 workers and a metrics directory of this test's."""
    database.empty()
    (tmp_path / "pause").mkdir()
    server = Server(
        backend_url[1],
        tmp_path / "pause",
        tmp_path / "gunicorn.log",
        config=ROOT_GUNICORN_CONF,
        workers=None,
        WEB_CONCURRENCY="3",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        SHOP_METRICS_TOKEN=TOKEN,
    )
    try:
        poll(server.ready, timeout=30, interval=0.1, what="gunicorn to answer")
        yield server
    finally:
        server.stop()


def read_metrics(server: Server) -> dict:
    answer = requests.get(
        server.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text[:300]
    return scrape(answer.text)


def api_order(server: Server, lines: dict[str, int]) -> int:
    with requests.Session() as http:
        return post_order(http, server.base, lines, key=uuid.uuid4().hex).status_code


def web_order(server: Server, lines: dict[str, int]) -> int:
    with requests.Session() as http:
        return post_form(http, server.base, checkout_form(http, server.base, lines)).status_code


def test_metrics_add_up_every_worker_exactly(metrics_server, database, tmp_path):
    database.seed({"TEA": 50, "CUP": 5})
    api = [{"TEA": 2}] * 12 + [{"CUP": 2}] * 4 + [{"NOPE": 1}] * 3 + [{"TEA": 1, "CUP": 9, "NOPE": 1}]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda lines: api_order(metrics_server, lines), api))
    web = [web_order(metrics_server, {"TEA": 1}) for _ in range(3)]

    assert statuses.count(201) == 14 and statuses.count(409) == 6, statuses  # CUP: 5 units, 2 orders of 2
    assert web == [302, 302, 302]
    samples = read_metrics(metrics_server)
    counts = {
        "placed": value(samples, "shop_orders_placed_total"),
        "units": value(samples, "shop_stock_units_total", reason="order_placed"),
        "short": value(samples, "shop_order_problems_total", code="insufficient_stock"),
        "unknown": value(samples, "shop_order_problems_total", code="unknown_product"),
        "api 201": value(
            samples, "shop_http_requests_total", endpoint="api.create_order", method="POST", status="201"
        ),
        "api 409": value(
            samples, "shop_http_requests_total", endpoint="api.create_order", method="POST", status="409"
        ),
        "checkouts": value(
            samples, "shop_http_requests_total", endpoint="catalog.checkout", method="POST", status="302"
        ),
    }
    assert counts == {
        "placed": 14 + 3,
        "units": 12 * 2 + 2 * 2 + 3,
        "short": 2 + 1,  # the mixed order is short of CUP too, and counts under both of its codes
        "unknown": 3 + 1,
        "api 201": 14,
        "api 409": 6,
        "checkouts": 3,
    }
    assert value(samples, "shop_products_out_of_stock") == 0
    assert value(samples, "shop_products_low_stock") == 1  # CUP: 1 left, threshold 2
    counted_by = {path.name for path in (tmp_path / "metrics").glob("counter_*.db")}
    assert len(counted_by) >= 2, f"the counts came from one process only: {counted_by}"

    killed = metrics_server.worker_pids()[0]
    os.kill(killed, signal.SIGKILL)
    poll(
        lambda: killed not in metrics_server.worker_pids() and len(metrics_server.worker_pids()) == 3,
        timeout=30,
        what="gunicorn to replace the killed worker",
    )
    after = read_metrics(metrics_server)
    assert value(after, "shop_orders_placed_total") == counts["placed"], "a dead worker's counts are kept"
    assert value(after, "shop_order_problems_total", code="unknown_product") == counts["unknown"]
