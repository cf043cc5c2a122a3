"""`flask events retry|purge` and `flask worker --once`."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from shop.models import utcnow
from shop.outbox import Event, EventDelivery
from tests.support.factories import add_product
from tests.support.outbox import add_endpoint, deliveries, place
from tests.support.readers import count


def test_worker_once_delivers_what_is_due_and_says_so(outbox_app, outbox_session, receiver):
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    result = outbox_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Worker stopped: 2 delivered, 0 failed attempts." in result.output  # the webhook and the e-mail
    assert len(receiver.receipts) == 1


def test_retry_makes_an_events_deliveries_due_now_and_failed_ones_with_failed(
    outbox_app, outbox_session, receiver
):
    receiver.answers = [(500, "no")]
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver, "order.placed")
    place()
    runner = outbox_app.test_cli_runner()
    runner.invoke(args=["worker", "--once"])
    (webhook,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert webhook.next_attempt_at > utcnow()

    retried = runner.invoke(args=["events", "retry", webhook.event_id])
    assert retried.exit_code == 0 and "1 delivery due now" in retried.output
    (webhook,) = [d for d in deliveries(outbox_session) if d.endpoint_id]
    assert webhook.next_attempt_at <= utcnow() and webhook.status == "pending"

    outbox_session.execute(EventDelivery.__table__.update().values(status="failed"))
    outbox_session.commit()
    assert "2 deliveries due now" in runner.invoke(args=["events", "retry", "--failed"]).output
    assert {d.status for d in deliveries(outbox_session)} == {"pending"}

    assert runner.invoke(args=["events", "retry"]).exit_code == 2
    unknown = runner.invoke(args=["events", "retry", "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV"])
    assert unknown.exit_code == 1 and "has no undelivered delivery" in unknown.output


def test_purge_deletes_events_older_than_the_retention_and_their_deliveries(
    outbox_app, outbox_session, receiver
):
    add_product(outbox_session, "TEA", 10)
    add_endpoint(receiver)
    place()
    runner = outbox_app.test_cli_runner()
    runner.invoke(args=["worker", "--once"])
    kept_before = count(outbox_session, Event)
    assert "Purged 0 event(s)." in runner.invoke(args=["events", "purge"]).output
    with time_machine.travel(utcnow() + timedelta(days=31)):
        place()  # recent: kept
        assert f"Purged {kept_before} event(s)." in runner.invoke(args=["events", "purge"]).output
    outbox_session.rollback()
    assert count(outbox_session, Event) == 2  # the new order's order.placed and stock.changed
    assert (
        outbox_session.scalars(select(EventDelivery.event_id)).all() == []
    )  # the new ones are not fanned out yet
