"""Engine set-up per database, and the unit-of-work boundary with its bounded retry."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from select import POLLIN, poll
from typing import TypeVar

from flask import Flask
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session

from . import metrics
from .errors import InventoryError, OrderRejected
from .extensions import DbSession, db
from .models import OrderItem

T = TypeVar("T")
logger = logging.getLogger("shop.database")

# PostgreSQL SQLSTATEs and MySQL/MariaDB error numbers worth running the unit of work again for.
_PG_RETRYABLE = {"40001": "serialization", "40P01": "deadlock", "55P03": "lock_timeout"}
_MYSQL_RETRYABLE = {1205: "lock_timeout", 1213: "deadlock"}
# A connection that is gone: MySQL/MariaDB client errors (cannot connect, server gone away, lost
# connection, connection killed, shutting down, timed out by the server) and PostgreSQL SQLSTATEs.
_MYSQL_LOST = {1053, 1927, 2003, 2006, 2013, 2055, 4031}
_PG_LOST_PREFIXES = ("08", "57P01", "57P02", "57P03")  # connection exception; shutdown, crash, starting up

# What the error handlers answer (503) when the database connection is lost in a request.
UNAVAILABLE_MESSAGE = (
    "We lost the connection to the database, so this request was not completed. Please try again in a moment."
)
UNAVAILABLE_HEADERS = {"Retry-After": "5"}


def normalize_url(url: str) -> str:
    """Accept the common ``postgres://`` / ``mysql://`` forms and pick this project's drivers."""
    for prefix, replacement in (
        ("postgres://", "postgresql+psycopg://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
        ("mariadb://", "mysql+pymysql://"),
        ("mariadb+pymysql://", "mysql+pymysql://"),  # MariaDB's settings below key on the "mysql" dialect
    ):
        if url.startswith(prefix):
            url = replacement + url[len(prefix) :]
    parsed = make_url(url)
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


# A pooled PostgreSQL connection unused for longer than this gets a full ping before reuse.
PING_AFTER_IDLE = 1.0  # seconds
_IDLE_SINCE = "shop.idle_since"


def engine_options(url: str) -> dict:
    """Pool and isolation settings for the engine behind ``url``."""
    backend = make_url(url).get_backend_name()
    # PostgreSQL connections are checked by _check_postgresql_connections instead.
    options: dict = {"pool_pre_ping": backend != "postgresql"}
    if backend == "mysql":
        # Like PostgreSQL's default: fewer gap locks, fewer deadlocks between checkouts.
        options["isolation_level"] = "READ COMMITTED"
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 30}
    return options


# Execution option of a connection whose transaction writes (``commit_unit_of_work``).
WRITES = "shop_writes"


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, and the write lock taken when a writing transaction begins.

    SQLite ignores ``FOR UPDATE``; ``BEGIN IMMEDIATE`` serialises writers instead, so a
    checkout never reads stock that another checkout is about to change. Only units of work
    (``commit_unit_of_work``) write, and only they begin that way: every other transaction (a
    catalog page, a report) is a plain ``BEGIN`` that reads a WAL snapshot beside the writer
    instead of queueing for its lock.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql(
            "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITES) else "BEGIN"
        )


def _closed_by_server(dbapi_connection) -> bool:
    """True if an idle connection's socket is readable: the server closed it, or said why it will.

    An idle PostgreSQL connection receives nothing until it sends a query; a server that ends the
    connection (terminated, restarted, shut down) sends its last message and closes the socket.
    """
    poller = poll()
    poller.register(dbapi_connection.fileno(), POLLIN)
    return bool(poller.poll(0))


def _check_postgresql_connections(engine: Engine) -> None:
    """Replace dead pooled connections at checkout without a round trip for every transaction.

    ``pool_pre_ping`` pings at every checkout, and the session checks a connection out for every
    unit of work: one round trip per order. Instead, like HikariCP's alive-bypass window, a
    connection back in use within ``PING_AFTER_IDLE`` seconds is only checked for a closed socket
    (a system call); one idle for longer gets the full ping. A dead one is replaced before any
    statement is sent, as with ``pool_pre_ping``.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def mark_idle(dbapi_connection, connection_record):
        if dbapi_connection is not None:
            connection_record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def check_alive(dbapi_connection, connection_record, connection_proxy):
        idle_since = connection_record.info.get(_IDLE_SINCE, 0.0)
        if _closed_by_server(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")
        if time.monotonic() - idle_since > PING_AFTER_IDLE:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as exc:
                raise DisconnectionError(f"pooled connection failed its ping: {type(exc).__name__}") from exc


_LAST_ORDER_ITEM_ID = select(func.max(OrderItem.id))


def next_sqlite_order_item_ids(session: DbSession, count: int) -> range:
    """The next ``count`` order-line ids on SQLite, handed out under the unit of work's write lock.

    SQLite cannot return the generated ids of a multi-row INSERT in order, so lines would go in
    one statement each. A unit of work holds the write lock from ``BEGIN IMMEDIATE``, so the
    next ids are ours and the lines go in one ``executemany``: an order costs the same
    statements whatever its number of lines. (A write outside a unit of work that raced another
    writer would fail on SQLite's snapshot check, never reuse an id.)
    """
    first = (session.scalar(_LAST_ORDER_ITEM_ID) or 0) + 1
    return range(first, first + count)


def number_sqlite_order_items(session: Session, flush_context, instances) -> None:
    """Give the new order lines of an ORM flush their ids before the INSERT, on SQLite."""
    items = [obj for obj in session.new if isinstance(obj, OrderItem) and obj.id is None]
    if not items or session.get_bind(mapper=inspect(OrderItem)).dialect.name != "sqlite":
        return
    for item, item_id in zip(items, next_sqlite_order_item_ids(session, len(items)), strict=True):
        item.id = item_id


def init_app(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            _check_postgresql_connections(db.engine)
    if not event.contains(db.session, "before_flush", number_sqlite_order_items):
        event.listen(db.session, "before_flush", number_sqlite_order_items)


def retry_cause(exc: DBAPIError) -> str | None:
    """``deadlock``, ``serialization`` or ``lock_timeout`` for an error worth running the work again for; else None."""
    orig = exc.orig
    if orig is not None and orig.args and orig.args[0] in _MYSQL_RETRYABLE:  # before the SQLSTATE: a
        return _MYSQL_RETRYABLE[orig.args[0]]  # MariaDB deadlock comes with SQLSTATE 40001 too
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in _PG_RETRYABLE:
        return _PG_RETRYABLE[sqlstate]
    return "lock_timeout" if "database is locked" in str(orig) else None  # SQLite's busy timeout ran out


def is_retryable(exc: DBAPIError) -> bool:
    """True for deadlocks, serialization failures and lock timeouts: safe to run again."""
    return retry_cause(exc) is not None


def is_lost_connection(exc: BaseException) -> bool:
    """True if ``exc`` says the database connection was lost (killed, server restarted, unreachable).

    SQLAlchemy marks such errors ``connection_invalidated`` (the pool drops the connection and
    the next checkout opens a new one); errors while connecting carry the driver's codes.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if type(orig).__module__.startswith("psycopg"):
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate is None:  # a client-side failure (cannot connect, connection closed): no server answer
            return type(orig).__name__ == "OperationalError"
        return sqlstate.startswith(_PG_LOST_PREFIXES)
    return bool(orig is not None and orig.args and orig.args[0] in _MYSQL_LOST)


def unavailable_or_reraise(exc: DBAPIError) -> None:
    """For the 503 error handlers: re-raise ``exc`` unless the connection was lost, else clean up.

    A re-raised error ends as the usual 500. A lost one is logged (without the request) and the
    session's dead transaction is dropped, so the error page and the next request start afresh.
    """
    if not is_lost_connection(exc):
        raise exc
    logger.warning("database connection lost during a request: %s", type(exc.orig).__name__)
    try:
        db.session.rollback()
    except DBAPIError:  # pragma: no cover - rolling back an invalidated connection does not talk to it
        pass


def _begin_writing(session: Session) -> None:
    """Start this unit of work's transaction as a writing one (on SQLite: ``BEGIN IMMEDIATE``).

    A read-only transaction the request began earlier (a lookup before the unit of work) is
    ended first: on SQLite it could not take the write lock later without failing.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        connection = session.connection()
        if connection.get_execution_options().get(WRITES):
            return
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a unit of work must make its changes inside work(), not before")
        session.rollback()
    session.connection(execution_options={WRITES: True})


def commit_unit_of_work(
    work: Callable[[], T],
    *,
    actor: str,
    attempts: int = 3,
    recover: Callable[[InventoryError], bool] | None = None,
) -> T:
    """Run ``work`` and commit once; on a deadlock or serialization failure roll back and retry.

    A retried attempt starts from a rolled-back session, so its stock effect is never applied
    twice. Any other error rolls back and propagates. An order refused (``OrderRejected``) is
    counted in the metrics by its problem codes, once, when the refusal is final: ``recover``,
    if given, is asked first whether something it did (releasing expired holds) makes one more
    run worth it.
    """
    try:
        return _commit_with_retries(work, actor=actor, attempts=attempts)
    except OrderRejected as exc:
        if recover is None or not recover(exc):
            metrics.order_refused(exc.problems)
            raise
    return commit_unit_of_work(work, actor=actor, attempts=attempts)


def _commit_with_retries(work: Callable[[], T], *, actor: str, attempts: int) -> T:
    for attempt in range(1, attempts + 1):
        db.session.info["actor"] = actor
        try:
            _begin_writing(db.session())
            result = work()
            db.session.commit()
            return result
        except DBAPIError as exc:
            db.session.rollback()
            cause = retry_cause(exc)
            if attempt == attempts or cause is None:
                raise
            metrics.unit_of_work_retried(cause)
            logger.warning("retrying unit of work after %s (attempt %d)", type(exc.orig).__name__, attempt)
            time.sleep(random.uniform(0.01, 0.05) * attempt)
        except BaseException:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")
