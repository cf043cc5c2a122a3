"""/healthz and /readyz: each check by name, 200 or 503, never rate-limited, never logged at info level."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, select

from shop import create_app
from shop.extensions import db
from shop.models import utcnow
from shop.outbox import WorkerClock
from shop.outbox.worker import SEEN, note_seen
from shop.rate_limits import limiter
from tests.support.databases import make_app
from tests.support.factories import add_product

# Nothing listens on port 1: connecting is refused at once.
NO_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/shop"


def test_healthz_answers_without_asking_the_database():
    app = create_app({"TESTING": True, "DATABASE_URL": NO_DATABASE})
    answer = app.test_client().get("/healthz")
    assert (answer.status_code, answer.json) == (200, {"status": "ok"})


def test_readyz_fails_every_check_when_the_database_does_not_answer():
    app = create_app({"TESTING": True, "DATABASE_URL": NO_DATABASE})
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "fail"
    assert set(answer.json["checks"]) == {"database", "migrations", "events"}
    for check in answer.json["checks"].values():
        assert check["ok"] is False and "did not answer" in check["detail"]


def test_readyz_is_ready_on_a_migrated_database(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ok"
    checks = answer.json["checks"]
    assert set(checks) == {"database", "migrations", "events"}, "no worker check unless one is expected"
    assert checks["migrations"]["detail"]["database"] == checks["migrations"]["detail"]["code"]
    assert checks["events"]["ok"] and checks["events"]["detail"]["backlog"] == 0


def test_readyz_fails_while_the_database_is_behind_the_migrations(unmigrated_app):
    upgrade(revision="0006")
    answer = unmigrated_app.test_client().get("/readyz")
    assert answer.status_code == 503
    migrations = answer.json["checks"]["migrations"]
    assert migrations["ok"] is False and migrations["detail"]["database"] == ["0006"]
    assert answer.json["checks"]["database"]["ok"] is True


@pytest.fixture
def expecting_a_worker(database_urls):
    yield from make_app(database_urls("sqlite"), SHOP_EXPECT_WORKER=True, SHOP_WORKER_SEEN_SECONDS=60)


def test_readyz_fails_when_an_expected_worker_was_not_seen_lately(expecting_a_worker):
    client = expecting_a_worker.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json["checks"]["worker"] == {
        "ok": False,
        "detail": "never seen",
    }
    with expecting_a_worker.app_context():
        note_seen(utcnow() - timedelta(seconds=61))
    assert client.get("/readyz").json["checks"]["worker"]["ok"] is False, "seen, but longer ago than 60 s"
    with expecting_a_worker.app_context():
        note_seen()
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json["checks"]["worker"]["ok"] is True


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def small_backlog(request, database_urls):
    yield from make_app(database_urls(request.param), SHOP_READY_MAX_BACKLOG=2)


def test_readyz_fails_when_the_event_backlog_reaches_its_limit(small_backlog):
    client = small_backlog.test_client()
    with small_backlog.app_context():
        add_product(db.session, "TEA", 10)  # one event: stock.changed (initial stock)
        assert client.get("/readyz").status_code == 200
        add_product(db.session, "CUP", 10)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    events = answer.json["checks"]["events"]
    assert (events["ok"], events["detail"]["backlog"], events["detail"]["limit"]) == (False, 2, 2)


@pytest.fixture
def strictly_limited(database_urls):
    """Rate limits on, and a default limit of one request a minute on every route that has no other."""
    try:
        yield from make_app(database_urls("sqlite"), RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="1 per minute")
    finally:
        limiter.limit_manager.set_default_limits([])  # one limiter per process: later apps have no default


def test_probes_are_never_rate_limited(strictly_limited):
    client = strictly_limited.test_client()
    assert [client.get("/").status_code for _ in range(2)] == [200, 429], "the default limit is on"
    for path in ("/healthz", "/readyz"):
        assert [client.get(path).status_code for _ in range(5)] == [200] * 5


def test_probes_are_logged_at_debug_level_and_pages_at_info(client, caplog):
    caplog.set_level(logging.DEBUG, logger="shop.requests")
    client.get("/healthz")
    client.get("/readyz")
    client.get("/")
    assert [(r.levelno, r.path) for r in caplog.records if r.name == "shop.requests"] == [
        (logging.DEBUG, "/healthz"),
        (logging.DEBUG, "/readyz"),
        (logging.INFO, "/"),
    ]


def test_workers_started_together_note_they_were_seen_without_failing(server_app):
    """A worker's first note meets another's row, not committed yet: it leaves the note to that one."""
    with server_app.app_context():
        with db.engine.connect() as other:
            other.execute(insert(WorkerClock).values(name=SEEN, at=utcnow()))
            commit_later = threading.Timer(1, other.commit)
            commit_later.start()
            note_seen()  # waits for the other worker's row, then does not insert it again
            commit_later.join()  # before the connection closes: the commit may still be finishing
        assert db.session.scalar(select(WorkerClock.at).where(WorkerClock.name == SEEN)) is not None
