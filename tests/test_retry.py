"""The unit of work retries a real deadlock once, and its stock effect lands exactly once."""

import logging
import sqlite3
import threading

import psycopg
import pymysql
import pytest
from sqlalchemy.exc import DBAPIError

from shop import stock
from shop.database import commit_unit_of_work, retry_cause
from shop.errors import InsufficientStock
from shop.extensions import db
from shop.models import Product
from tests.support.factories import add_product
from tests.support.metrics import Counts
from tests.support.readers import movements, stock_of


def test_two_units_of_work_that_deadlock_both_land_once(server_app, caplog):
    with server_app.app_context():
        add_product(db.session, "A", 10)
        add_product(db.session, "B", 10)
    both_hold_a_lock = threading.Barrier(2, timeout=10)
    errors = []

    def restock(first, second):
        attempts = 0

        def work():
            nonlocal attempts
            attempts += 1
            products = {p.sku: p for p in db.session.scalars(db.select(Product))}
            stock.adjust_stock(db.session, products[first], 1, "restock")
            if attempts == 1:
                both_hold_a_lock.wait()  # each holds one row and now asks for the other's
            stock.adjust_stock(db.session, products[second], 1, "restock")

        with server_app.app_context():
            try:
                commit_unit_of_work(work, actor=f"{first}{second}")
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    caplog.set_level(logging.WARNING, logger="shop.database")
    retries = Counts(
        *[("shop_unit_of_work_retries_total", {"cause": c}) for c in ("deadlock", "serialization")]
    )
    threads = [threading.Thread(target=restock, args=pair) for pair in (("A", "B"), ("B", "A"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] != []
    assert retries.added() == [1, 0], "the deadlock's victim ran again, once, and the metrics say why"
    with server_app.app_context():
        assert (stock_of(db.session, "A"), stock_of(db.session, "B")) == (12, 12)
        assert sorted(m.actor for m in movements(db.session, reason="restock")) == ["AB", "AB", "BA", "BA"]


def test_a_domain_refusal_is_not_retried(app, caplog):
    calls = []
    with app.app_context():
        tea = add_product(db.session, "TEA", 1)

        def work():
            calls.append(1)
            stock.adjust_stock(db.session, db.session.merge(tea), -2, "adjustment")

        with pytest.raises(InsufficientStock):
            commit_unit_of_work(work, actor="test")
    assert calls == [1]


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), "deadlock"),
        (psycopg.errors.SerializationFailure("could not serialize access"), "serialization"),
        (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), "lock_timeout"),
        (pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"), "deadlock"),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), "lock_timeout"),
        (sqlite3.OperationalError("database is locked"), "lock_timeout"),
        (psycopg.errors.UniqueViolation("duplicate key"), None),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), None),
    ],
)
def test_each_retryable_error_has_its_cause(error, cause):
    assert retry_cause(DBAPIError("SELECT 1", {}, error)) == cause
