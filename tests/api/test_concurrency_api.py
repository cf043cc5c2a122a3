"""Concurrent requests with one Idempotency-Key create one order (PostgreSQL and MariaDB row locks)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from shop.api.models import IdempotencyKey
from shop.extensions import db
from shop.models import Order
from tests.support.api import assert_conforms, order_body
from tests.support.factories import add_product
from tests.support.readers import count, movements, stock_of

THREADS = 8


def send_together(app, bodies, key="same-key"):
    """POST every body at once from its own thread (own app context, own session and connection)."""
    barrier = threading.Barrier(len(bodies))

    def send(body):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post(
            "/api/v1/orders",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Idempotency-Key": key},
        )
        assert_conforms(app, "POST", "/api/v1/orders", response)
        return response.status_code, response.get_data(as_text=True)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


@pytest.fixture
def tea(server_app):
    def stocked(quantity):
        with server_app.app_context():
            add_product(db.session, "TEA", quantity)

    return stocked


def check(server_app, expect_stock, expect_orders=1):
    with server_app.app_context():
        assert count(db.session, Order) == expect_orders
        assert count(db.session, IdempotencyKey) == expect_orders
        assert stock_of(db.session, "TEA") == expect_stock
        assert len(movements(db.session, "TEA", reason="order_placed")) == expect_orders


def test_the_same_request_sent_concurrently_creates_one_order(server_app, tea):
    tea(100)
    results = send_together(server_app, [order_body(("TEA", 3))] * THREADS)
    assert {status for status, _ in results} == {201}
    assert len({body for _, body in results}) == 1
    check(server_app, expect_stock=97)


def test_losers_replay_the_winner_even_when_it_took_the_last_unit(server_app, tea):
    """The key is claimed before any stock is touched: no loser can report a shortage."""
    tea(1)
    results = send_together(server_app, [order_body(("TEA", 1))] * THREADS)
    assert {status for status, _ in results} == {201}, results
    assert len({body for _, body in results}) == 1
    check(server_app, expect_stock=0)


def test_one_key_with_different_bodies_concurrently_creates_one_order(server_app, tea):
    tea(100)
    results = send_together(server_app, [order_body(("TEA", n)) for n in range(1, THREADS + 1)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (THREADS - 1)
    winner = json.loads(next(body for status, body in results if status == 201))
    assert all(
        json.loads(body)["code"] == "idempotency_key_reused" for status, body in results if status == 409
    )
    check(server_app, expect_stock=100 - winner["totals"]["quantity"])
    with server_app.app_context():
        assert db.session.scalar(select(Order.number)) == winner["number"]


def test_different_keys_concurrently_create_one_order_each(server_app, tea):
    tea(100)
    barrier = threading.Barrier(THREADS)

    def send(n):
        client = server_app.test_client()
        barrier.wait(timeout=30)
        return client.post(
            "/api/v1/orders", json=order_body(("TEA", 2)), headers={"Idempotency-Key": f"key-{n}"}
        ).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        assert set(pool.map(send, range(THREADS))) == {201}
    check(server_app, expect_stock=100 - 2 * THREADS, expect_orders=THREADS)
