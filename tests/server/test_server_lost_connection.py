"""Which database errors are a lost connection (503) and which stay a 500, on both surfaces.

No server needed: a statement listener raises the driver's real exception classes, the way the
drivers raise them when a connection dies; the through-the-server proof is in test_server_faults.
"""

from __future__ import annotations

import psycopg
import pymysql
import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from shop import create_app
from shop.database import UNAVAILABLE_MESSAGE, is_lost_connection
from shop.extensions import db

pytestmark = pytest.mark.server

LOST = [
    pytest.param(
        lambda: psycopg.errors.lookup("57P01")("terminating connection due to administrator command"),
        False,
        id="pg-admin-shutdown",
    ),
    pytest.param(
        lambda: psycopg.OperationalError("connection failed: Connection refused"),
        False,
        id="pg-cannot-connect",
    ),
    pytest.param(
        lambda: pymysql.err.OperationalError(2013, "Lost connection to server during query"),
        False,
        id="mariadb-lost",
    ),
    pytest.param(
        lambda: pymysql.err.OperationalError(1927, "Connection was killed", sqlstate="70100"),
        False,
        id="mariadb-killed",
    ),
    pytest.param(
        lambda: pymysql.err.OperationalError(1053, "Server shutdown in progress", sqlstate="08S01"),
        False,
        id="mariadb-shutdown",
    ),
    pytest.param(
        lambda: pymysql.err.OperationalError(2003, "Can't connect"), False, id="mariadb-cannot-connect"
    ),
    pytest.param(lambda: RuntimeError("anything"), True, id="invalidated-by-sqlalchemy"),
]
NOT_LOST = [
    pytest.param(lambda: psycopg.errors.lookup("40P01")("deadlock detected"), id="pg-deadlock"),
    pytest.param(lambda: psycopg.errors.lookup("23505")("duplicate key"), id="pg-unique"),
    pytest.param(
        lambda: pymysql.err.OperationalError(1213, "Deadlock found", sqlstate="40001"), id="mariadb-deadlock"
    ),
    pytest.param(
        lambda: pymysql.err.OperationalError(1205, "Lock wait timeout", sqlstate="HY000"),
        id="mariadb-lock-timeout",
    ),
    pytest.param(
        lambda: pymysql.err.IntegrityError(1062, "Duplicate entry", sqlstate="23000"), id="mariadb-unique"
    ),
]


def error(orig, invalidated=False) -> DBAPIError:
    return DBAPIError.instance(
        "SELECT 1",
        {},
        orig,
        type(orig) if isinstance(orig, Exception) else Exception,
        connection_invalidated=invalidated,
    )


@pytest.fixture
def failing_app(tmp_path):
    """An app (not TESTING: errors are handled as in production) whose every statement raises ``fail``."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite'}", "SECRET_KEY": "x"})
    failure = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        raise failure["error"]

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    yield app, failure
    event.remove(engine, "before_cursor_execute", before)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("make", "invalidated"), LOST)
def test_a_lost_connection_is_a_503_page_and_problem(failing_app, make, invalidated):
    app, failure = failing_app
    failure["error"] = error(make(), invalidated)
    assert is_lost_connection(failure["error"])
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "5"
    assert "We lost the connection to the database" in page.text
    problem = client.get("/api/v1/products")
    assert problem.status_code == 503 and problem.mimetype == "application/problem+json"
    assert problem.headers["Retry-After"] == "5"
    assert problem.json["code"] == "database_unavailable" and problem.json["detail"] == UNAVAILABLE_MESSAGE


@pytest.mark.parametrize("make", NOT_LOST)
def test_other_database_errors_stay_500(failing_app, make):
    app, failure = failing_app
    failure["error"] = error(make())
    assert not is_lost_connection(failure["error"])
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 500 and page.mimetype == "text/html"
    problem = client.get("/api/v1/products")
    assert problem.status_code == 500 and problem.json["code"] == "internal_error"
