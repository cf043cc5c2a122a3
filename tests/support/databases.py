"""Databases and apps: every test runs against SQLite, PostgreSQL and MariaDB, each on a migrated schema.

Server URLs come from TEST_POSTGRES_URL / TEST_MARIADB_URL; each test run works in its own
database (the URL's name plus the process id), dropped at the end, so runs can overlap. A
server that cannot be reached skips its tests on a developer machine and fails them under CI=true.

Fixtures: ``database_urls``, ``app`` (one per backend), ``server_app`` (PostgreSQL and MariaDB),
``session``, ``client``, ``runner``, ``statements`` and ``unmigrated_app`` (a new, empty database
of each backend, for the migration tests). A test module that wants an app on other
backends writes its own fixture with ``yield from make_app(database_urls(backend))``.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, delete, event, select, text
from sqlalchemy.engine import make_url

from shop import create_app
from shop.extensions import db
from shop.models import DEFAULT_LOCATION, Location

SERVER_URLS = {
    "postgresql": os.environ.get(
        "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/shop_test"
    ),
    "mariadb": os.environ.get(
        "TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/shop_test?charset=utf8mb4"
    ),
}
ALL_BACKENDS = ["sqlite", "postgresql", "mariadb"]
SERVER_BACKENDS = ["postgresql", "mariadb"]


def run_on_server(url: str, *statements: str) -> None:
    """Run statements on the server of ``url``, connected to its administrative database."""
    parsed = make_url(url)
    admin_db = "postgres" if parsed.get_backend_name() == "postgresql" else "mysql"
    engine = create_engine(parsed.set(database=admin_db), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _server_database_statements(url: str) -> tuple[list[str], list[str]]:
    """SQL that creates, and SQL that drops, the database of ``url``."""
    name = make_url(url).database
    if make_url(url).get_backend_name() == "postgresql":
        drop = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']
        return drop + [f'CREATE DATABASE "{name}"'], drop
    drop = [f"DROP DATABASE IF EXISTS `{name}`"]
    return drop + [f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"], drop


def migrate_from_scratch(url: str) -> None:
    """Build the schema of an empty database with the project's migrations."""
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def create_server_database(backend: str, suffix: str) -> tuple[str, list[str]]:
    """A new, empty database on ``backend``'s server; its URL and the SQL that drops it.

    Skips the test when the server cannot be reached, or fails it under CI=true.
    """
    base = make_url(SERVER_URLS[backend])
    url = base.set(database=f"{base.database}_{suffix}").render_as_string(hide_password=False)
    create, drop = _server_database_statements(url)
    try:
        run_on_server(url, *create)
    except Exception as exc:  # noqa: BLE001 - any connection failure
        message = f"{backend} is not reachable at {base.render_as_string()}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url, drop


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """Backend name -> URL of a freshly migrated database, prepared on first use."""
    prepared: dict[str, str] = {}
    cleanups = []

    def get(backend: str) -> str:
        if backend not in prepared:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'shop.sqlite'}"
            else:
                url, drop = create_server_database(backend, str(os.getpid()))
                cleanups.append(lambda: run_on_server(url, *drop))
            migrate_from_scratch(url)
            prepared[backend] = url
        return prepared[backend]

    yield get
    for cleanup in cleanups:
        cleanup()


def empty_tables(session) -> None:
    """Back to a freshly migrated shop: every row deleted but location ``main``, as migration 0009 made it."""
    for table in reversed(db.metadata.sorted_tables):
        if table is not Location.__table__:
            session.execute(delete(table))
    session.execute(delete(Location).where(Location.code != DEFAULT_LOCATION))
    main = session.scalar(select(Location).where(Location.code == DEFAULT_LOCATION))
    if main is None:
        session.add(main := Location(code=DEFAULT_LOCATION))
    main.name, main.priority, main.fulfils_orders, main.active = "Main", 0, True, True
    session.flush()


def make_app(url: str, *, instance_path: str | None = None, **config):
    """Yield an app on the migrated database at ``url``; afterwards empty its tables (``empty_tables``).

    For fixtures: ``yield from make_app(database_urls("postgresql"))``; ``config`` adds settings
    that must be known when the app is created (``RATELIMIT_ENABLED=True``); ``instance_path`` an
    instance folder of the test's own (``str(tmp_path)``) for an app that writes its secret key there.
    """
    app = create_app({"TESTING": True, "DATABASE_URL": url, **config}, instance_path=instance_path)
    yield app
    with app.app_context():
        db.session.remove()
        empty_tables(db.session)
        db.session.commit()
        db.engine.dispose()


@pytest.fixture(params=ALL_BACKENDS)
def app(request, database_urls):
    """An app on an empty, migrated database of each backend."""
    yield from make_app(database_urls(request.param))


@pytest.fixture(params=SERVER_BACKENDS)
def server_app(request, database_urls):
    """Like ``app``, but only on the servers whose row locks are real (PostgreSQL, MariaDB)."""
    yield from make_app(database_urls(request.param))


@pytest.fixture(params=ALL_BACKENDS)
def unmigrated_app(request, tmp_path):
    """An app, in its app context, on a new database of each backend with no tables (dropped afterwards)."""
    drop: list[str] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'unmigrated.sqlite'}"
    else:
        url, drop = create_server_database(request.param, f"unmigrated_{os.getpid()}")
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    try:
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        if drop:
            run_on_server(url, *drop)


@pytest.fixture
def session(app):
    """``db.session`` inside an app context, acting as "test"."""
    with app.app_context():
        db.session.info["actor"] = "test"
        yield db.session
        db.session.rollback()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def statements(app):
    """Record every SQL statement the app's engine executes (one per cursor execution)."""
    recorded: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        recorded.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield recorded
    event.remove(engine, "before_cursor_execute", record)
