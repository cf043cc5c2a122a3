"""The outbox's tests: an app that sends to the real servers of ``tests.support.receivers``.

Fixtures: ``outbox_app`` (each backend; webhooks to 127.0.0.1 allowed, a short webhook timeout,
e-mail through the ``smtp_server`` fixture) and ``outbox_session`` (its ``db.session``).
Functions: ``add_endpoint``, ``run_worker``, ``deliveries``, ``place``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.orders import place_order
from shop.outbox import EventDelivery
from shop.outbox.webhooks import add_endpoint as add_webhook_endpoint
from shop.outbox.worker import Worker
from tests.support.databases import ALL_BACKENDS, make_app

# Seconds: long enough that a loaded machine's receiver still answers in time, short enough for the
# hanging receiver's test to wait out.
WEBHOOK_TIMEOUT = 3.0


@pytest.fixture(params=ALL_BACKENDS)
def outbox_app(request, database_urls, smtp_server):
    yield from make_app(
        database_urls(request.param),
        SHOP_WEBHOOKS_ALLOW_PRIVATE=True,
        SHOP_WEBHOOK_TIMEOUT=WEBHOOK_TIMEOUT,
        SHOP_PUBLIC_URL="https://shop.example",
        **smtp_server.config(),
    )


@pytest.fixture
def outbox_session(outbox_app):
    with outbox_app.app_context():
        yield db.session
        db.session.rollback()


def add_endpoint(receiver, *event_types: str, description: str = "") -> int:
    """A committed endpoint sending to ``receiver`` (which learns its secret); its id."""

    def work():
        endpoint, secret = add_webhook_endpoint(
            db.session, receiver.url, event_types or ["*"], description, allow_private=True
        )
        db.session.flush()
        return endpoint.id, secret

    endpoint_id, receiver.secret = commit_unit_of_work(work, actor="test")
    return endpoint_id


def run_worker(app) -> Worker:
    """One worker that does everything due now, then stops (``flask worker --once``)."""
    worker = Worker(app)
    worker.run(once=True)
    return worker


def deliveries(session) -> list[EventDelivery]:
    """Every delivery, oldest first, as committed."""
    session.rollback()
    return list(session.scalars(select(EventDelivery).order_by(EventDelivery.id)))


def place(lines=(("TEA", 2),), status="confirmed", email="ada@example.com", **kwargs):
    """A committed order placed as a customer would."""
    return commit_unit_of_work(
        lambda: place_order(
            db.session, list(lines), status=status, customer_name="Ada", customer_email=email, **kwargs
        ),
        actor="customer",
    )
