"""Webhooks reach real receivers on 127.0.0.1, signed by Standard Webhooks, at least once, retried for 3 days."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import partial

import pytest
import time_machine
from sqlalchemy import select

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.models import utcnow
from shop.outbox import WebhookEndpoint, feed
from shop.outbox.delivery import BACKOFF, JITTER, LATER
from shop.outbox.webhooks import ANSWER_LENGTH
from tests.support.databases import SERVER_BACKENDS
from tests.support.factories import add_product, make_user
from tests.support.outbox import WEBHOOK_TIMEOUT, add_endpoint, deliveries, place, run_worker
from tests.support.receivers import Trickle, text_of


def later(after: timedelta):
    """Travel forward in time (the worker's clock and the database's rows agree: both are utcnow())."""
    return time_machine.travel(utcnow() + after, tick=True)


def run_worker_that_gives_up(app) -> None:
    """A worker run whose delivery gets no whole answer: it gives up after SHOP_WEBHOOK_TIMEOUT."""
    started = time.monotonic()
    run_worker(app)
    assert time.monotonic() - started < WEBHOOK_TIMEOUT + 1.5, "the worker gave up after SHOP_WEBHOOK_TIMEOUT"


def test_an_order_reaches_the_endpoint_signed_and_in_the_envelope(outbox_app, outbox_session, receiver):
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    order = place()
    run_worker(outbox_app)

    (receipt,) = receiver.wait_for(1)
    assert receipt.verified, "the signature verifies with standardwebhooks and the endpoint's secret"
    assert receipt.headers["content-type"] == "application/json"
    event = receipt.event
    assert set(event) == {"id", "type", "timestamp", "data"}
    assert (event["type"], event["data"]["order"]["number"]) == ("order.placed", order.number)
    assert receipt.webhook_id == event["id"] and event["id"].startswith("evt_")
    assert event["timestamp"].endswith("Z")
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id is not None]
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_an_endpoint_gets_only_the_types_it_asked_for(outbox_app, outbox_session, receiver):
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "stock.changed")
    place()
    run_worker(outbox_app)
    # the initial stock and the order's decrement; not order.placed
    assert [(r.event["type"], r.event["data"]["reason"]) for r in receiver.wait_for(2)] == [
        ("stock.changed", "initial_stock"),
        ("stock.changed", "order_placed"),
    ]


def test_a_500_is_retried_after_the_backoff_with_the_same_webhook_id(outbox_app, outbox_session, receiver):
    receiver.answers = [(500, "busy"), (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    run_worker(outbox_app)
    receiver.wait_for(1)
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert (delivery.status, delivery.attempts, delivery.last_status, delivery.last_answer) == (
        "pending",
        1,
        500,
        "busy",
    )
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert BACKOFF[0] * (1 - JITTER) <= wait <= BACKOFF[0] * (1 + JITTER)

    run_worker(outbox_app)  # not due yet
    assert len(receiver.receipts) == 1
    with later(BACKOFF[0] * (1 + JITTER) + timedelta(seconds=1)):
        run_worker(outbox_app)
    first, second = receiver.wait_for(2)
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert first.verified and second.verified
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_an_endpoint_that_hangs_times_out_and_is_retried(outbox_app, outbox_session, receiver):
    def hang(receipt):
        time.sleep(WEBHOOK_TIMEOUT + 2)
        return 200, "too late"

    receiver.answers = [hang, (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    run_worker_that_gives_up(outbox_app)
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert delivery.status == "pending" and delivery.last_answer.startswith("no answer")
    with later(timedelta(minutes=1)):
        run_worker(outbox_app)
    assert receiver.wait_for(2)[1].webhook_id == receiver.receipts[0].webhook_id
    assert [d.status for d in deliveries(outbox_session) if d.endpoint_id] == ["delivered"]


def test_a_kept_alive_connection_times_out_too(outbox_app, outbox_session, receiver):
    def hang(receipt):
        time.sleep(WEBHOOK_TIMEOUT + 2)
        return 200, "too late"

    receiver.answers = [(200, "ok"), hang, (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    place()
    run_worker_that_gives_up(outbox_app)
    assert receiver.connections == 1, "the second webhook went over the first one's connection"
    first, second = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert first.status == "delivered"
    assert second.status == "pending" and second.last_answer.startswith("no answer")
    with later(timedelta(minutes=1)):
        run_worker(outbox_app)
    assert [d.status for d in deliveries(outbox_session) if d.endpoint_id] == ["delivered", "delivered"]
    assert receiver.connections == 2, "a connection that timed out is not used again"


def test_an_answer_that_trickles_in_times_out_too(outbox_app, outbox_session, receiver):
    """A byte at a time, each well within a read timeout: the whole answer still has SHOP_WEBHOOK_TIMEOUT."""
    receiver.answers = [Trickle(interval=0.2), (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    run_worker_that_gives_up(outbox_app)
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert delivery.status == "pending"
    assert delivery.last_answer == f"no answer: TimeoutError: no whole answer within {WEBHOOK_TIMEOUT:g} s"
    with later(timedelta(minutes=1)):
        run_worker(outbox_app)
    assert [d.status for d in deliveries(outbox_session) if d.endpoint_id] == ["delivered"]
    assert receiver.connections == 2, "a connection that timed out is not used again"


def test_a_410_disables_the_endpoint_and_tells_staff(outbox_app, outbox_session, receiver, smtp_server):
    make_user(outbox_session, "boss@example.com")
    receiver.answers = [(410, "gone")]
    add_product(outbox_session, "TEA", 10)
    endpoint_id = add_endpoint(receiver, "order.placed")
    place()
    run_worker(outbox_app)

    outbox_session.rollback()
    endpoint = outbox_session.get(WebhookEndpoint, endpoint_id)
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert [d.status for d in deliveries(outbox_session) if d.endpoint_id] == ["failed"]
    (notice,) = [m for m in smtp_server.messages if m["To"] == "boss@example.com"]
    assert receiver.url in text_of(notice) and "410" in text_of(notice)

    place()
    run_worker(outbox_app)
    assert len(receiver.receipts) == 1, "a disabled endpoint gets nothing more"
    assert len([m for m in smtp_server.messages if m["To"] == "boss@example.com"]) == 1, "staff are told once"


def test_after_3_days_of_failures_the_delivery_fails_and_the_endpoint_is_disabled(
    outbox_app, outbox_session, receiver, smtp_server
):
    make_user(outbox_session, "boss@example.com")
    receiver.answers = [(503, "down")]
    add_product(outbox_session, "TEA", 10)
    endpoint_id = add_endpoint(receiver, "order.placed")
    place()
    elapsed = timedelta(0)
    for step in [
        timedelta(0),
        *[BACKOFF[i] * (1 + JITTER) for i in range(len(BACKOFF))],
        *[LATER * (1 + JITTER)] * 5,
    ]:
        elapsed += step + timedelta(seconds=1)
        with later(elapsed):
            run_worker(outbox_app)
    attempts = len(receiver.receipts)
    assert attempts >= len(BACKOFF) + 1, "retried through the whole schedule"
    assert len({r.webhook_id for r in receiver.receipts}) == 1
    (delivery,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert (delivery.status, delivery.attempts) == ("failed", attempts)
    outbox_session.rollback()
    endpoint = outbox_session.get(WebhookEndpoint, endpoint_id)
    assert not endpoint.enabled and "every delivery failed" in endpoint.disabled_reason
    assert any("was disabled" in m["Subject"] for m in smtp_server.messages)


def test_a_delivered_webhook_clears_the_failing_streak(outbox_app, outbox_session, receiver):
    receiver.answers = [(500, "no"), (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    endpoint_id = add_endpoint(receiver, "order.placed")
    place()
    run_worker(outbox_app)
    outbox_session.rollback()
    assert outbox_session.get(WebhookEndpoint, endpoint_id).failing_since is not None
    with later(timedelta(minutes=1)):
        run_worker(outbox_app)
    outbox_session.rollback()
    assert outbox_session.get(WebhookEndpoint, endpoint_id).failing_since is None


def test_events_before_an_endpoint_existed_are_not_sent_to_it(outbox_app, outbox_session, receiver):
    add_product(outbox_session, "TEA", 10)
    place()
    run_worker(outbox_app)  # the order's events join the feed with no endpoint to tell
    add_endpoint(receiver)
    run_worker(outbox_app)
    time.sleep(0.2)
    assert receiver.receipts == []
    assert outbox_session.scalar(select(WebhookEndpoint.id)) is not None


def test_webhooks_to_one_receiver_reuse_its_connection(outbox_app, outbox_session, receiver):
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver)
    for _ in range(3):
        place()
    run_worker(outbox_app)
    # stock.changed for the initial stock, then order.placed and stock.changed per order
    receipts = receiver.wait_for(7)
    assert all(r.verified for r in receipts)
    assert receiver.connections == 1, "one kept-alive connection, not one per webhook"


def test_an_answer_longer_than_what_is_kept_does_not_spoil_the_next_webhook(
    outbox_app, outbox_session, receiver
):
    receiver.answers = [(200, "x" * 5 * ANSWER_LENGTH), (200, "ok")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    place()
    run_worker(outbox_app)
    receiver.wait_for(2)
    webhooks = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert [(d.status, d.attempts) for d in webhooks] == [("delivered", 1), ("delivered", 1)]
    assert (len(webhooks[0].last_answer), webhooks[1].last_answer) == (ANSWER_LENGTH, "ok")
    assert receiver.connections == 2, "the connection left with an unread answer is not reused"


@pytest.mark.parametrize("outbox_app", SERVER_BACKENDS, indirect=True)
def test_a_delivered_webhook_does_not_wait_for_the_endpoints_row(outbox_app, outbox_session, receiver):
    """Workers do not queue on the endpoint's row: with no failing streak to clear, a delivered
    webhook is settled while another transaction holds that row."""
    add_product(outbox_session, "TEA", 10)
    endpoint_id = add_endpoint(receiver, "order.placed")
    place()
    commit_unit_of_work(partial(feed.sequence, db.session), actor="test")  # fanned out before the lock
    with db.engine.connect() as holder:
        holder.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update())
        release = threading.Timer(10, holder.rollback)  # a worker that waits for the row is let go
        release.start()
        started = time.monotonic()
        run_worker(outbox_app)
        waited = time.monotonic() - started
        release.cancel()
    assert waited < 5
    assert [d.status for d in deliveries(outbox_session) if d.endpoint_id] == ["delivered"]
