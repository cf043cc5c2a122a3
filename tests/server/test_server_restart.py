"""`make stress` only: the database server itself stopped and started under the running shop.

This stops the PostgreSQL / MariaDB server that every other test shares, so it never runs in
`make test`: it is skipped unless SHOP_STRESS=1. While the server is down, requests get the 503
page / problem; once it is back, the next requests succeed without restarting the shop
(dead pooled connections are replaced at checkout: shop.database).

Commands (override them to point at a private server):
  SHOP_STRESS_PG_CLUSTER       "<version> <name>" for pg_ctlcluster (default: newest version, main)
  SHOP_STRESS_MARIADB_START    shell command starting MariaDB again (default: start-stop-daemon)
MariaDB is stopped with the SQL ``SHUTDOWN`` statement on the test URL's server.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from shop.cli import ledger_mismatches
from tests.support.server import TIMEOUT, checkout_form, poll, post_form, post_order

pytestmark = [
    pytest.mark.server,
    pytest.mark.stress,
    pytest.mark.skipif(
        os.environ.get("SHOP_STRESS") != "1",
        reason="stops the shared database servers: run with make stress (SHOP_STRESS=1)",
    ),
]

SKU = "RESTART-1"


def pg_cluster() -> list[str]:
    default = (
        f"{sorted(os.listdir('/etc/postgresql'), key=lambda v: [int(x) for x in v.split('.')])[-1]} main"
        if Path("/etc/postgresql").is_dir()
        else "15 main"
    )
    return os.environ.get("SHOP_STRESS_PG_CLUSTER", default).split()


def stop_server(database) -> None:
    if database.backend == "postgresql":
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster(), "stop", "-m", "fast"],
            check=True,
            timeout=60,
        )
    else:
        with contextlib.suppress(Exception), database.connect() as conn:  # it hangs up on us
            conn.execute(text("SHUTDOWN"))
    poll(lambda: not answers(database), timeout=60, interval=0.2, what=f"{database.backend} to stop")


def start_server(database) -> None:
    """Start the server again; retried, since a stopping MariaDB may still be flushing when it stops answering."""
    if database.backend == "postgresql":
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster(), "start"]
    else:
        command = shlex.split(
            os.environ.get(
                "SHOP_STRESS_MARIADB_START",
                "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql",
            )
        )

    def started() -> bool:
        if answers(database):
            return True
        subprocess.run(command, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return poll_briefly(lambda: answers(database), seconds=5)

    poll(started, timeout=90, interval=0.5, what=f"{database.backend} to start")


def poll_briefly(condition, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def answers(database) -> bool:
    try:
        with database.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any connection failure: not up
        return False


def checkouts(shop, n: int) -> list[int]:
    def web(_):
        with requests.Session() as http:
            return post_form(http, shop.base, checkout_form(http, shop.base, {SKU: 1})).status_code

    def api(_):
        with requests.Session() as http:
            return post_order(http, shop.base, {SKU: 1}, f"restart-{os.urandom(6).hex()}").status_code

    with ThreadPoolExecutor(max_workers=2 * n) as pool:
        return list(pool.map(web, range(n))) + list(pool.map(api, range(n)))


def test_database_server_restart_is_survived_without_manual_action(shop, database):
    database.seed({SKU: 1000})
    assert set(checkouts(shop, 8)) <= {201, 302}
    database.dispose()  # the test's own pool: nothing of ours keeps the server busy
    stop_server(database)
    try:
        page = requests.get(shop.base + "/", timeout=TIMEOUT)
        api = requests.get(shop.base + "/api/v1/products", timeout=TIMEOUT)
    finally:
        start_server(database)
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html"), page.status_code
    assert api.status_code == 503 and api.headers["Content-Type"] == "application/problem+json", (
        api.status_code
    )
    after = checkouts(shop, 8)
    assert set(after) <= {201, 302}, after
    assert database.scalar("SELECT COUNT(*) FROM orders") == 32
    with database.session():
        assert ledger_mismatches() == []
    print(
        f"\n[{database.backend}] fault: database server stopped -> 503 (HTML and problem+json); "
        "started again -> next 16 checkouts succeeded with no restart of the shop"
    )
