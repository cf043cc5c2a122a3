"""Faults through the real server: a worker killed mid-checkout, a database connection dropped
mid-request, and every database connection dropped between two requests.

The mid-request faults use the pause of ``gunicorn_conf.py``: a checkout sent with
``X-Test-Pause`` stops right after its guarded ``UPDATE inventory``, holding the row locks of
its products with the stock changed but not committed, until the test has done the damage and
releases it.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from shop.cli import ledger_mismatches
from shop.database import UNAVAILABLE_MESSAGE
from tests.support.server import TIMEOUT, checkout_form, number_from_redirect, poll, post_form, post_order

pytestmark = pytest.mark.server

SKU = "FAULT-1"
STOCK = 5


def send_paused(shop, surface: str, name: str, http: requests.Session):
    """Start a checkout of 2 x SKU that pauses in the stock update; (thread, outcome, retry)."""
    headers = {"X-Test-Pause": name}
    outcome: dict = {}
    if surface == "web":
        data = checkout_form(http, shop.base, {SKU: 2})
        send = lambda: post_form(http, shop.base, data, headers)  # noqa: E731
        retry = lambda: post_form(http, shop.base, data)  # noqa: E731 - the same form, submitted again
    else:
        send = lambda: post_order(http, shop.base, {SKU: 2}, name, headers)  # noqa: E731
        retry = lambda: post_order(http, shop.base, {SKU: 2}, name)  # noqa: E731 - the same key again

    def run():
        try:
            outcome["response"] = send()
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome, retry


def assert_nothing_partial(database):
    assert database.scalar("SELECT COUNT(*) FROM orders") == 0
    assert database.scalar("SELECT COUNT(*) FROM order_items") == 0
    assert database.scalar("SELECT COUNT(*) FROM idempotency_keys") == 0
    assert database.rows("SELECT m.reason, m.delta FROM inventory_movements m") == [("initial_stock", STOCK)]
    assert database.scalar("SELECT quantity FROM inventory") == STOCK
    with database.session():
        assert ledger_mismatches() == []


def assert_not_locked_and_next_checkout_works(shop, database, retry):
    # The stock row can be locked again (within a 1 s lock timeout each try).
    poll(
        lambda: database.lock_free(SKU, lock_timeout=1),
        timeout=10,
        interval=0.05,
        what=f"the inventory row of {SKU} to be unlocked",
    )
    response = retry()
    assert response.status_code in (201, 302), (response.status_code, response.text[:300])
    assert response.elapsed.total_seconds() < 5
    number = number_from_redirect(response) if response.status_code == 302 else response.json()["number"]
    assert database.rows("SELECT number, status FROM orders") == [(number, "confirmed")]
    assert database.scalar("SELECT quantity FROM inventory") == STOCK - 2
    with database.session():
        assert ledger_mismatches() == []


@pytest.mark.parametrize("surface", ["web", "api"])
def test_worker_killed_mid_checkout_leaves_nothing_partial_and_nothing_locked(shop, database, surface):
    database.seed({SKU: STOCK})
    with requests.Session() as http:
        name = f"kill-{surface}-{database.backend}"
        thread, outcome, retry = send_paused(shop, surface, name, http)
        try:
            paused = shop.paused(name)
            assert not database.lock_free(SKU, lock_timeout=1), "the paused checkout should hold the row lock"
            os.kill(paused["pid"], signal.SIGKILL)
        finally:
            shop.release(name)
            thread.join(timeout=TIMEOUT + 5)
        assert not thread.is_alive()
        # The client lost its connection: no answer at all, certainly not a success.
        assert "error" in outcome, outcome.get("response") and outcome["response"].status_code
        assert_nothing_partial(database)
        assert_not_locked_and_next_checkout_works(shop, database, retry)
    print(
        f"\n[{database.backend}] fault: worker {paused['pid']} SIGKILLed mid-checkout ({surface}) -> "
        "client connection error, nothing written, row unlocked, retry placed the order"
    )


@pytest.mark.parametrize("surface", ["web", "api"])
def test_database_connection_lost_mid_request_is_a_503(shop, database, surface):
    database.seed({SKU: STOCK})
    with requests.Session() as http:
        name = f"drop-{surface}-{database.backend}"
        thread, outcome, retry = send_paused(shop, surface, name, http)
        try:
            connection = shop.paused(name)["connection"]
            database.kill_connection(connection)
            poll(
                lambda: connection not in database.app_connections(),
                timeout=10,
                what=f"connection {connection} to be gone",
            )
        finally:
            shop.release(name)
            thread.join(timeout=TIMEOUT + 5)
        assert not thread.is_alive()
        response = outcome.get("response")
        assert response is not None, outcome.get("error")
        assert response.status_code == 503, (response.status_code, response.text[:500])
        assert response.headers.get("Retry-After") == "5"
        if surface == "web":
            assert response.headers["Content-Type"].startswith("text/html")
            assert "Service unavailable" in response.text
            assert "We lost the connection to the database" in response.text
        else:
            assert response.headers["Content-Type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 503 and problem["code"] == "database_unavailable"
            assert problem["detail"] == UNAVAILABLE_MESSAGE
        assert "Traceback" not in response.text and "OperationalError" not in response.text
        assert_nothing_partial(database)
        assert_not_locked_and_next_checkout_works(shop, database, retry)
    print(
        f"\n[{database.backend}] fault: connection {connection} killed mid-checkout ({surface}) -> 503 "
        f"{response.headers['Content-Type'].split(';')[0]}, nothing written, retry placed the order"
    )


def test_all_database_connections_dropped_between_requests_are_survived(shop, database):
    database.seed({SKU: 1000})

    def busy_round(n: int) -> list[int]:
        """n checkouts and n catalog pages at once, so that every worker is busy and uses its pool."""

        def web(i):
            with requests.Session() as http:
                return post_form(http, shop.base, checkout_form(http, shop.base, {SKU: 1})).status_code

        def api(i):
            with requests.Session() as http:
                return post_order(http, shop.base, {SKU: 1}, f"round-{os.urandom(6).hex()}").status_code

        with ThreadPoolExecutor(max_workers=2 * n) as pool:
            return list(pool.map(web, range(n))) + list(pool.map(api, range(n)))

    first = busy_round(8)
    assert set(first) <= {302, 201}, first
    database.dispose()  # what is left are the workers' pooled connections
    killed = database.kill_all_connections()
    assert killed >= 2, "the workers should have had pooled connections to kill"
    second = busy_round(8)
    assert set(second) <= {302, 201}, second  # no 500, no 503: stale connections were replaced
    assert database.scalar("SELECT COUNT(*) FROM orders") == 32
    assert database.scalar("SELECT quantity FROM inventory") == 1000 - 32
    with database.session():
        assert ledger_mismatches() == []
    print(
        f"\n[{database.backend}] fault: all {killed} pooled connections of the workers terminated between "
        "requests -> next 32 checkouts all succeeded"
    )
