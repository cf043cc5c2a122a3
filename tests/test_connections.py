"""Pooled connections that the server closed are replaced before a unit of work uses them."""

import time

import pytest
from sqlalchemy import create_engine, text

from shop import database
from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.orders import place_order
from tests.support.databases import make_app
from tests.support.factories import add_product
from tests.support.readers import stock_of

# By dialect: the id of this connection, ending another, whether one is still there.
CONNECTION_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
KILL = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}
ALIVE = {
    "postgresql": "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {}",
    "mysql": "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {}",
}


def place(quantity=1):
    return commit_unit_of_work(
        lambda: place_order(
            db.session,
            [("TEA", quantity)],
            status="confirmed",
            customer_name="Ada",
            customer_email="ada@example.com",
        ),
        actor="test",
    )


def pooled_connection_id():
    connection_id = db.session.scalar(text(CONNECTION_ID[db.engine.dialect.name]))
    db.session.commit()  # back to the pool
    return connection_id


def kill(connection_id):
    """End the connection from another one, as a server restart or an operator would, and wait until it is gone."""
    engine = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(KILL[engine.dialect.name].format(connection_id)))
            deadline = time.monotonic() + 10
            while conn.scalar(text(ALIVE[engine.dialect.name].format(connection_id))):
                assert time.monotonic() < deadline, "the killed connection did not go away"
                time.sleep(0.02)
    finally:
        engine.dispose()


def test_a_pooled_connection_closed_by_the_server_is_replaced_at_once(server_app, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 60.0)  # PostgreSQL: only the socket check can notice
    with server_app.app_context():
        add_product(db.session, "TEA", 10)
        dead = pooled_connection_id()
        kill(dead)
        place(3)
        assert stock_of(db.session, "TEA") == 7
        assert pooled_connection_id() != dead


@pytest.fixture
def postgresql_app(database_urls):
    yield from make_app(database_urls("postgresql"))


def test_postgresql_pings_only_connections_idle_for_a_while(postgresql_app, monkeypatch):
    with postgresql_app.app_context():
        pings = []
        ping = db.engine.dialect.do_ping
        monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
        monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.2)
        add_product(db.session, "TEA", 10)
        for _ in range(3):
            place()
        assert pings == []  # back in use at once: no round trip spent on a ping
        time.sleep(0.3)
        place()
        assert len(pings) == 1
        assert stock_of(db.session, "TEA") == 6
