"""Metrics: counted after commit only, refusals once by problem code, /metrics for its readers only.

The counters are this process's (``tests.support.metrics``); each test compares what grew while it
ran. tests/server/test_server_metrics.py reads the same counts back through three gunicorn workers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import delete, insert

from shop.database import commit_unit_of_work
from shop.errors import OrderRejected
from shop.extensions import db
from shop.holds import commit_checkout, hold_until
from shop.models import utcnow
from shop.orders import change_status, place_order
from shop.outbox import Event
from tests.support.databases import make_app
from tests.support.factories import add_product, place_hold
from tests.support.metrics import Counts, scrape, value
from tests.support.outbox import add_endpoint, place, run_worker

TOKEN = "metrics-token-of-the-test"
PLACED = ("shop_orders_placed_total", {})


def units(reason):
    return ("shop_stock_units_total", {"reason": reason})


def problems(code):
    return ("shop_order_problems_total", {"code": code})


def test_a_placed_order_counts_after_commit_and_a_rolled_back_one_never(session):
    add_product(session, "TEA", 10)
    add_product(session, "CUP", 10)
    counts = Counts(PLACED, units("order_placed"))

    place_order(
        session, [("TEA", 4)], status="confirmed", customer_name="Ada", customer_email="a@example.com"
    )
    session.flush()
    assert counts.added() == [0, 0], "nothing is counted before the commit"
    session.rollback()
    assert counts.added() == [0, 0], "an order that rolled back was never placed"

    place([("TEA", 2), ("CUP", 3)])
    assert counts.added() == [1, 5]


def test_a_draft_counts_when_it_is_confirmed_and_a_cancellation_returns_its_units(session):
    add_product(session, "TEA", 10)
    counts = Counts(PLACED, units("order_placed"), units("order_cancelled"))
    draft = place([("TEA", 3)], status="draft")
    assert counts.added() == [0, 0, 0], "a draft takes nothing"
    commit_unit_of_work(lambda: change_status(session, draft, "confirmed", actor="staff"), actor="staff")
    assert counts.added() == [1, 3, 0]
    commit_unit_of_work(lambda: change_status(session, draft, "cancelled", actor="staff"), actor="staff")
    assert counts.added() == [1, 3, 3]


def test_a_refused_order_counts_each_of_its_problem_codes_once(session):
    add_product(session, "TEA", 1)
    add_product(session, "CUP", 1)
    counts = Counts(PLACED, problems("insufficient_stock"), problems("unknown_product"))
    with pytest.raises(OrderRejected):
        place([("TEA", 5), ("CUP", 5), ("NOPE", 1)])
    assert counts.added() == [0, 1, 1], "two shortages in one order are one refusal for want of stock"


def test_a_refusal_that_releasing_expired_holds_turns_into_an_order_is_not_a_refusal(session):
    add_product(session, "TEA", 3)
    place_hold(session, ("TEA", 3))
    counts = Counts(
        PLACED, problems("insufficient_stock"), ("shop_holds_released_total", {}), units("hold_expired")
    )
    with time_machine.travel(utcnow() + timedelta(hours=1), tick=True):
        commit_checkout(
            lambda: place_order(
                session,
                [("TEA", 2)],
                status="confirmed",
                customer_name="Bo",
                customer_email="bo@example.com",
                hold_until=hold_until(),
            ),
            actor="customer",
        )
    assert counts.added() == [1, 0, 1, 3]


def test_a_refusal_that_expired_holds_cannot_cure_is_counted_once(session):
    add_product(session, "TEA", 3)
    place_hold(session, ("TEA", 3))
    counts = Counts(PLACED, problems("insufficient_stock"), ("shop_holds_released_total", {}))
    with time_machine.travel(utcnow() + timedelta(hours=1), tick=True), pytest.raises(OrderRejected):
        commit_checkout(
            lambda: place_order(
                session, [("TEA", 4)], status="confirmed", customer_name="Bo", customer_email="bo@example.com"
            ),
            actor="customer",
        )
    assert counts.added() == [0, 1, 1], "refused before the release and after it: one refusal"


def test_deliveries_are_counted_by_outcome_once_written(outbox_app, outbox_session, receiver):
    receiver.answers = [(500, "busy"), (410, "gone")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    counts = Counts(
        *[("shop_event_deliveries_total", {"outcome": o}) for o in ("delivered", "retry", "failed")]
    )
    place(email="ada@example.com")
    run_worker(outbox_app)  # the webhook answers 500 (retry); the e-mail is delivered
    assert counts.added() == [1, 1, 0]
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        run_worker(outbox_app)  # 410: failed, the endpoint disabled
    assert counts.added() == [1, 1, 1]


def test_requests_are_counted_by_endpoint_method_and_status(client):
    counts = Counts(
        ("shop_http_requests_total", {"endpoint": "catalog.index", "method": "GET", "status": "200"}),
        ("shop_http_requests_total", {"endpoint": "none", "method": "GET", "status": "404"}),
        ("shop_http_requests_total", {"endpoint": "none", "method": "other", "status": "405"}),
        ("shop_http_request_duration_seconds_count", {"endpoint": "catalog.index"}),
    )
    assert client.get("/").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.open("/", method="BREW").status_code == 405
    assert counts.added() == [1, 1, 1, 1], "an unknown method is 'other': a client cannot invent label values"


def test_metrics_are_404_to_anyone_without_the_token_or_an_allowed_address(app, client):
    app.config["SHOP_METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 404
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert "shop_orders_placed_total" in answer.text


@pytest.fixture
def app_open_to_networks(database_urls, monkeypatch):
    monkeypatch.setenv("SHOP_METRICS_ALLOW", "10.0.0.0/8, 192.0.2.7")
    yield from make_app(database_urls("sqlite"))


def test_metrics_are_open_to_the_allowed_networks_only(app_open_to_networks):
    client = app_open_to_networks.test_client()
    assert client.get("/metrics").status_code == 404  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 404


def test_the_database_gauges_are_read_at_each_scrape(app, session, client):
    app.config["SHOP_METRICS_TOKEN"] = TOKEN
    add_product(session, "LOW", 1, threshold=2)
    add_product(session, "EMPTY", 0)
    add_product(session, "UNSTOCKED", None)
    add_product(session, "PLENTY", 50)
    add_product(session, "GONE", 0, status="discontinued")  # nobody can order it: not "out of stock"
    session.execute(delete(Event))  # the products' own events: this test's one event alone is undelivered
    created = utcnow() - timedelta(minutes=10)
    session.execute(
        insert(Event).values(
            id="evt_test", type="stock.out", subject="EMPTY", payload="{}", created_at=created
        )
    )
    session.commit()

    samples = scrape(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    assert value(samples, "shop_products_low_stock") == 1
    assert value(samples, "shop_products_out_of_stock") == 2
    assert value(samples, "shop_events_backlog") == 1, "an event not in the feed yet is undelivered"
    assert 600 <= value(samples, "shop_events_oldest_pending_seconds") < 700


@pytest.fixture
def app_without_metrics(database_urls):
    yield from make_app(database_urls("sqlite"), SHOP_METRICS_ENABLED=False, SHOP_METRICS_TOKEN=TOKEN)


def test_with_metrics_off_nothing_is_counted_and_metrics_are_404(app_without_metrics):
    client = app_without_metrics.test_client()
    with app_without_metrics.app_context():
        add_product(db.session, "TEA", 10)
        counts = Counts(
            PLACED,
            problems("insufficient_stock"),
            ("shop_http_requests_total", {"endpoint": "catalog.index", "method": "GET", "status": "200"}),
        )
        place([("TEA", 1)])
        with pytest.raises(OrderRejected):
            place([("TEA", 99)])
    assert client.get("/").status_code == 200
    assert counts.added() == [0, 0, 0]
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
