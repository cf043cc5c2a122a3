"""`flask worker` as real processes: killed mid-delivery, stopped with SIGTERM, three at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shop.outbox import Event, EventDelivery
from tests.support.databases import ALL_BACKENDS, SERVER_BACKENDS, make_app
from tests.support.factories import add_product
from tests.support.outbox import add_endpoint, deliveries, place
from tests.support.server import poll

ROOT = Path(__file__).resolve().parent.parent.parent
TIMEOUT = 2  # SHOP_WEBHOOK_TIMEOUT of these workers: a claimed delivery's lease is 2 x 2 + 5 = 9 s


@contextmanager
def worker_process(url: str, *args: str) -> Iterator[subprocess.Popen]:
    """A running ``flask worker`` on ``url``; killed (if still running) and reaped afterwards."""
    process = start_worker(url, *args)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if process.stdout is not None and not process.stdout.closed:
            process.communicate(timeout=30)


def stop(process: subprocess.Popen) -> str:
    """SIGTERM, then the worker's output once it has exited."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=30)[0]


def start_worker(url: str, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SHOP_WEBHOOKS_ALLOW_PRIVATE": "1",
        "SHOP_WEBHOOK_TIMEOUT": str(TIMEOUT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(params=ALL_BACKENDS)
def process_app(request, database_urls):
    url = database_urls(request.param)
    for app in make_app(url, SHOP_WEBHOOKS_ALLOW_PRIVATE=True):
        app.config["TEST_URL"] = url
        yield app


@pytest.fixture(params=SERVER_BACKENDS)
def server_process_app(request, database_urls):
    url = database_urls(request.param)
    for app in make_app(url, SHOP_WEBHOOKS_ALLOW_PRIVATE=True):
        app.config["TEST_URL"] = url
        yield app


def webhook_deliveries(session):
    return [d for d in deliveries(session) if d.endpoint_id is not None]


def test_a_worker_killed_mid_delivery_loses_nothing(process_app, receiver):
    released = threading.Event()

    def stall(receipt):
        released.wait(30)
        return 200, "too late"

    receiver.answers = [stall, (200, "ok")]
    with process_app.app_context():
        from shop.extensions import db

        add_product(db.session, "TEA", 10)
        add_endpoint(receiver, "order.placed")
        place()
        with worker_process(process_app.config["TEST_URL"]) as worker:
            try:
                receiver.wait_for(1)
                os.killpg(worker.pid, signal.SIGKILL)  # in the middle of the delivery
                worker.wait(10)
            finally:
                released.set()
        (delivery,) = webhook_deliveries(db.session)
        assert (delivery.status, delivery.attempts) == ("pending", 1), (
            "the dead worker's, until its lease ends"
        )

        with worker_process(process_app.config["TEST_URL"]) as second:
            first, again = receiver.wait_for(2, timeout=30)
            stop(second)
        assert first.webhook_id == again.webhook_id and again.verified
        poll(lambda: webhook_deliveries(db.session)[0].status == "delivered", timeout=10, what="delivered")


def test_sigterm_finishes_the_delivery_in_hand_and_gives_the_rest_back(process_app, receiver):
    answer = threading.Event()

    def slow(receipt):
        answer.wait(TIMEOUT)  # the worker is told to stop meanwhile
        return 200, "ok"

    receiver.answers = [slow]
    with process_app.app_context():
        from shop.extensions import db

        add_product(db.session, "TEA", 10)
        add_endpoint(receiver, "order.placed")
        for _ in range(3):
            place(lines=[("TEA", 1)])
        with worker_process(process_app.config["TEST_URL"]) as worker:
            receiver.wait_for(1)
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the worker notes it, in the middle of the delivery
            answer.set()
            output = worker.communicate(timeout=30)[0]
        assert worker.returncode == 0, output
        assert "Worker stopped: 1 delivered" in output
        assert len(receiver.receipts) == 1
        statuses = sorted((d.status, d.attempts) for d in webhook_deliveries(db.session))
        assert statuses == [("delivered", 1), ("pending", 0), ("pending", 0)], (
            "the rest are due again, unattempted"
        )


def test_events_committed_by_a_process_that_then_crashed_are_delivered_by_the_next_worker(
    process_app, receiver
):
    with process_app.app_context():
        from shop.extensions import db

        add_product(db.session, "TEA", 10)
        add_endpoint(receiver, "order.placed")
    url = process_app.config["TEST_URL"]
    crash = (
        "import os\n"
        "from shop import create_app\n"
        "from shop.database import commit_unit_of_work\n"
        "from shop.extensions import db\n"
        "from shop.orders import place_order\n"
        f"app = create_app({{'DATABASE_URL': {url!r}}})\n"
        "with app.app_context():\n"
        "    order = commit_unit_of_work(lambda: place_order(db.session, [('TEA', 1)], status='confirmed',\n"
        "        customer_name='Ada', customer_email='ada@example.com'), actor='customer')\n"
        "    print(order.number, flush=True)\n"
        "    os._exit(9)  # dies right after the commit: nothing is delivered by this process\n"
    )
    crashed = subprocess.run(
        [sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert crashed.returncode == 9, crashed.stderr
    number = crashed.stdout.strip()
    assert receiver.receipts == []

    once = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--once"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "SHOP_WEBHOOKS_ALLOW_PRIVATE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 0, once.stderr
    (receipt,) = receiver.wait_for(1)
    assert receipt.event["data"]["order"]["number"] == number


def test_three_workers_deliver_500_events_each_exactly_once(server_process_app, receiver):
    with server_process_app.app_context():
        from shop.extensions import db

        add_product(db.session, "TEA", 1000)
        add_endpoint(receiver)  # every type
        for _ in range(250):
            place(lines=[("TEA", 1)])  # order.placed and stock.changed
        db.session.rollback()
        events = db.session.scalar(select(func.count()).select_from(Event))
        assert events >= 500
        url = server_process_app.config["TEST_URL"]
        with worker_process(url) as one, worker_process(url) as two, worker_process(url) as three:
            workers = [one, two, three]
            receipts = receiver.wait_for(events, timeout=120)
            time.sleep(1)  # a duplicate would arrive about now
            outputs = [stop(worker) for worker in workers]
        assert all(w.returncode == 0 for w in workers), outputs
        ids = Counter(r.webhook_id for r in receiver.receipts)
        assert len(ids) == events and max(ids.values()) == 1, "every event once, none twice"
        assert all(r.verified for r in receipts)
        db.session.rollback()
        delivered = db.session.scalars(
            select(EventDelivery.status).where(EventDelivery.endpoint_id.is_not(None))
        )
        assert set(delivered) == {"delivered"}
        shares = [int(out.split("Worker stopped: ")[1].split(" ")[0]) for out in outputs]
        assert sum(shares) >= events, shares  # webhooks and customer e-mails, shared as claims went
