"""The real server for tests/server: gunicorn with several workers on PostgreSQL and MariaDB.

Each backend gets its own freshly migrated database (the shared test URL's name + ``_server_`` +
the process id), so that killing every connection of that database touches nothing else, and one
gunicorn (``SERVER_WORKERS`` sync workers, ``--config tests/server/gunicorn_conf.py``) on a free
127.0.0.1 port. The server is always stopped (its whole process group) and the database dropped,
even when a test fails. Each test starts from empty tables.

The ``Server`` and ``Database`` they build and the tests' HTTP helpers are in
``tests/support/server.py``.
"""

from __future__ import annotations

import os

import pytest

from tests.support.databases import (
    SERVER_BACKENDS,
    create_server_database,
    migrate_from_scratch,
    run_on_server,
)
from tests.support.server import Database, Server, poll


@pytest.fixture(scope="package", params=SERVER_BACKENDS)
def backend_url(request):
    """A freshly migrated database of its own on each server, dropped at the end."""
    url, drop = create_server_database(request.param, f"server_{os.getpid()}")
    try:
        migrate_from_scratch(url)
        yield request.param, url
    finally:
        run_on_server(url, *drop)


@pytest.fixture(scope="package")
def database(backend_url):
    database = Database(*backend_url)
    yield database
    database.dispose()


@pytest.fixture(scope="package")
def server(backend_url, tmp_path_factory):
    """gunicorn serving the shop on the backend's database; stopped whatever happens."""
    _, url = backend_url
    work = tmp_path_factory.mktemp("gunicorn")
    (work / "pause").mkdir()
    server = Server(url, work / "pause", work / "gunicorn.log")
    try:
        poll(server.ready, timeout=30, interval=0.1, what="gunicorn to answer")
        yield server
    finally:
        server.stop()


@pytest.fixture
def shop(server, database, request):
    """The running server on empty tables; the server's log is shown if the test fails."""
    database.empty()
    yield server
    database.dispose()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- gunicorn log ---\n{server.log_tail()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
