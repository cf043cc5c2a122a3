"""Load-generating worker processes, started by bench/processes.py for the service, SQLite and peer rows.

Each worker is a separate process (forked by multiprocessing, or for Oscar a process of its own
virtualenv) that builds its own app or connection, places a few warm-up orders, waits on a
barrier with its siblings, then places orders back to back for a fixed duration, timing each
one client-side. This module imports only the standard library, so the Oscar workers use it too.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from functools import partial

# The catalogue bench/database.py seeds (the same for every row): spread SKUs have product ids
# 1..N_SPREAD, the hot SKU has id HOT_ID.
N_SPREAD = 1000
HOT_ID = N_SPREAD + 1
HOT_SKU = "HOT-0001"
SPREAD_LINES = 3
LAST_UNITS = "last-units"  # hot orders against a small stock; each client stops at its first refusal
SPREAD_PLACES = "spread-3-places"  # spread orders whose SKUs are kept at three locations, one each
CUSTOMER_NAME = "Bench Client"
CUSTOMER_EMAIL = "bench@example.com"


def spread_sku(product_id: int) -> str:
    """The SKU of spread product ``product_id`` (SKU-0001..SKU-1000)."""
    return f"SKU-{product_id:04d}"


def order_product_ids(case: str, rng: random.Random) -> list[int]:
    """The product ids of one order (1 unit each): the hot SKU, or 3 distinct spread SKUs."""
    if case in ("hot", LAST_UNITS):
        return [HOT_ID]
    return rng.sample(range(1, N_SPREAD + 1), SPREAD_LINES)


def order_lines(case: str, rng: random.Random) -> list[tuple[str, int]]:
    """The (sku, quantity) lines of one order of ``case``."""
    return [(HOT_SKU if pid == HOT_ID else spread_sku(pid), 1) for pid in order_product_ids(case, rng)]


def place_service_order(lines: list[tuple[str, int]]) -> None:
    """One confirmed order of ``lines`` through the shop's service layer, in a unit of work of its own
    (inside an app context; the shop is imported here, so that the Oscar workers never import it)."""
    from shop.database import commit_unit_of_work
    from shop.extensions import db
    from shop.orders import place_order

    commit_unit_of_work(
        lambda: place_order(
            db.session, lines, status="confirmed", customer_name=CUSTOMER_NAME, customer_email=CUSTOMER_EMAIL
        ),
        actor="bench",
    )


def _timed_loop(
    one: Callable[[], None],
    *,
    warmup: int,
    duration: float,
    barrier,
    queue,
    stop_on: tuple = (),
    interval: float = 0.0,
) -> None:
    """Warm up, wait for the siblings, then call ``one`` until ``duration`` ends or it raises ``stop_on``:
    back to back, or with an ``interval``, one call every ``interval`` seconds on a fixed schedule (a
    late call starts at once, so the rate holds), the first at a random point of the first interval."""
    errors: Counter[str] = Counter()
    for _ in range(warmup):
        one()
    barrier.wait()
    latencies: list[float] = []
    cpu = time.process_time()
    start = time.perf_counter()
    end = start + duration
    # random is reseeded in each forked child: paced clients do not march in step
    due = start + random.random() * interval
    while True:
        if interval:
            time.sleep(max(0.0, due - time.perf_counter()))
            due += interval
        t0 = time.perf_counter()
        if t0 >= end:
            break
        try:
            one()
        except Exception as exc:  # noqa: BLE001 - counted and reported per row
            errors[f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"] += 1
            if isinstance(exc, stop_on):
                break
            continue
        latencies.append(time.perf_counter() - t0)
    queue.put(
        {
            "orders": len(latencies),
            "latencies": latencies,
            "errors": dict(errors),
            "elapsed": time.perf_counter() - start,
            "cpu": time.process_time() - cpu,
            "warmup": warmup,
        }
    )


PROTOCOL = "BENCH "  # the prefix of a report line from a worker that runs as a command


def report(message: dict) -> None:
    """Write one report line on stdout, for bench.processes.run_commands."""
    sys.stdout.write(PROTOCOL + json.dumps(message) + "\n")
    sys.stdout.flush()


class StdinBarrier:
    """The barrier of a worker that runs as a command: report ready, then wait for ``go`` on stdin."""

    def wait(self) -> None:
        """Report ready and block until the runner says go."""
        report({"ready": True})
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("the runner gave up on this row")

    def abort(self) -> None:
        """Nothing to release: the runner reads the failure report in place of ``ready``."""


class StdoutQueue:
    """The result queue of a worker that runs as a command: its report goes to stdout."""

    def put(self, message: dict) -> None:
        """Send ``message`` to the runner."""
        report(message)


def _guard(worker: Callable, barrier, queue, *args) -> None:
    """Report a worker that could not start instead of leaving its siblings on the barrier."""
    try:
        worker(*args, barrier, queue)
    except BaseException:  # noqa: BLE001
        barrier.abort()
        queue.put({"failed": traceback.format_exc()})


# -- service layer: shop.orders.place_order + commit_unit_of_work --------------------------


def service_worker(url: str, case: str, seed: int, duration: float, warmup: int, barrier, queue) -> None:
    """Place orders through the shop's service layer on ``url`` and report to ``queue``."""
    _guard(_service_worker, barrier, queue, url, case, seed, duration, warmup)


def paced_service_worker(
    url: str, case: str, seed: int, rate: float, duration: float, warmup: int, barrier, queue
) -> None:
    """``service_worker`` placing ``rate`` orders a second on a fixed schedule instead of back to back."""
    _guard(partial(_service_worker, interval=1 / rate), barrier, queue, url, case, seed, duration, warmup)


def _service_worker(url, case, seed, duration, warmup, barrier, queue, interval=0.0) -> None:
    from shop import create_app
    from shop.errors import InsufficientStock
    from shop.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    rng = random.Random(seed)
    with app.app_context():

        def one() -> None:
            place_service_order(order_lines(case, rng))

        stop_on = (InsufficientStock,) if case == LAST_UNITS else ()
        _timed_loop(
            one,
            warmup=warmup,
            duration=duration,
            barrier=barrier,
            queue=queue,
            stop_on=stop_on,
            interval=interval,
        )
        db.session.remove()
        db.engine.dispose()


# -- a reader of catalog pages, beside the writers (the mixed SQLite row) ---------------------


def catalog_reader_worker(
    url: str, case: str, seed: int, duration: float, warmup: int, barrier, queue
) -> None:
    """Read catalog pages through the app (its test client, no HTTP) on ``url`` and report to ``queue``."""
    _guard(_catalog_reader_worker, barrier, queue, url, seed, duration, warmup)


def _catalog_reader_worker(url, seed, duration, warmup, barrier, queue) -> None:
    from shop import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    rng = random.Random(seed)

    def one() -> None:
        response = client.get(f"/?page={rng.randint(1, 40)}")
        if response.status_code != 200:
            raise RuntimeError(f"the catalog answered {response.status_code}")

    _timed_loop(one, warmup=warmup, duration=duration, barrier=barrier, queue=queue)


# -- the same transaction written directly with Python's sqlite3 module ----------------------


def sqlite_direct_worker(
    path: str, case: str, seed: int, duration: float, warmup: int, barrier, queue
) -> None:
    """Place orders with plain sqlite3 on the file at ``path`` and report to ``queue``."""
    _guard(_sqlite_direct_worker, barrier, queue, path, case, seed, duration, warmup)


def open_sqlite(path: str) -> sqlite3.Connection:
    """A connection set up as the shop's engine sets up SQLite (shop/database.py)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _sqlite_direct_worker(path, case, seed, duration, warmup, barrier, queue) -> None:
    import secrets
    from datetime import UTC, datetime

    conn = open_sqlite(path)
    rng = random.Random(seed)

    def one() -> None:
        ids = sorted(order_product_ids(case, rng))
        marks = ",".join("?" * len(ids))
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        number = secrets.token_hex(8)
        conn.execute("BEGIN IMMEDIATE")
        try:
            order_id = conn.execute(
                "INSERT INTO orders (number, status, customer_name, customer_email, stock_committed_at,"
                " created_at, updated_at) VALUES (?, 'confirmed', ?, ?, ?, ?, ?) RETURNING id",
                (number, CUSTOMER_NAME, CUSTOMER_EMAIL, now, now, now),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                f" SELECT ?, id, 1, price_cents FROM products WHERE id IN ({marks})",
                (order_id, *ids),
            )
            taken = conn.execute(
                f"UPDATE inventory SET quantity = quantity - 1, updated_at = ? WHERE product_id IN ({marks})"
                " AND quantity >= 1 RETURNING product_id, location_id, quantity",
                (now, *ids),
            ).fetchall()
            if len(taken) != len(ids):
                raise RuntimeError("insufficient stock")
            conn.executemany(
                "INSERT INTO inventory_movements (product_id, location_id, order_id, delta, quantity_after, reason,"
                " actor, created_at) VALUES (?, ?, ?, -1, ?, 'order_placed', 'bench', ?)",
                [(pid, lid, order_id, qty, now) for pid, lid, qty in taken],
            )
            conn.execute(  # each line taken where its product's row is, all of it
                "INSERT INTO order_item_allocations (order_item_id, location_id, quantity)"
                " SELECT oi.id, i.location_id, oi.quantity FROM order_items oi"
                " JOIN inventory i ON i.product_id = oi.product_id WHERE oi.order_id = ?",
                (order_id,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    try:
        _timed_loop(one, warmup=warmup, duration=duration, barrier=barrier, queue=queue)
    finally:
        conn.close()
