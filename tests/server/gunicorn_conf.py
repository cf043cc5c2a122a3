"""Gunicorn settings used only by tests/server: the real server, plus a pause for fault injection.

A request carrying the ``X-Test-Pause: <name>`` header stops right after the statement that runs
the guarded ``UPDATE inventory`` (on PostgreSQL one statement locks, updates and ledgers; on
MariaDB the rows were locked by the statement before) — the stock rows are locked and changed in
the open transaction, nothing is committed — writes
``<name>.paused`` (worker pid and database connection id) into ``$SHOP_TEST_PAUSE_DIR`` and
waits until ``<name>.release`` appears there (at most ``MAX_PAUSE`` seconds). The tests kill the
worker or its database connection meanwhile. Nothing here is part of the application.
"""

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

worker_class = "sync"
timeout = 30
graceful_timeout = 5
loglevel = "warning"

PAUSE_HEADER = "X-Test-Pause"
MAX_PAUSE = 15.0


def _connection_id(conn) -> int:
    dbapi = conn.connection.dbapi_connection
    info = getattr(dbapi, "info", None)
    if info is not None and hasattr(info, "backend_pid"):  # psycopg 3
        return info.backend_pid
    return dbapi.thread_id()  # PyMySQL: the MariaDB connection id (for KILL)


STOCK_UPDATE = re.compile(r"\bUPDATE\s+inventory\b", re.IGNORECASE)


def pause_after_stock_update(conn, cursor, statement, parameters, context, executemany):
    if not STOCK_UPDATE.search(statement):
        return
    from flask import has_request_context, request

    name = request.headers.get(PAUSE_HEADER, "") if has_request_context() else ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        return
    directory = Path(os.environ["SHOP_TEST_PAUSE_DIR"])
    marker = directory / f"{name}.paused"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "connection": _connection_id(conn)}))
    tmp.replace(marker)  # appears complete or not at all
    release = directory / f"{name}.release"
    deadline = time.monotonic() + MAX_PAUSE
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def post_fork(server, worker):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "after_cursor_execute", pause_after_stock_update)


def when_ready(server):
    """Stop when the test run that started us is gone, so a killed pytest leaves no server behind."""
    parent = int(os.environ.get("SHOP_TEST_PARENT_PID", "0"))
    if not parent:
        return

    def watch():
        while True:
            time.sleep(1)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, daemon=True).start()
