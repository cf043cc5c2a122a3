"""The plain Flask port's rows: bench/peers/plain_flask/app.py in N forked workers, on its own database.

Its tables have the shop's names and columns, so ``shop_bench_plain`` is reset and checked by the
same code as ``shop_bench`` (bench.database.reset_pg, bench.checks.check_pg); an order took
stock when its status is confirmed or paid.
"""

from __future__ import annotations

import os
import random

import psycopg

from bench.checks import check_pg
from bench.database import HOT_STOCK, catalogue, empty_database, now_utc, pg_conninfo, pg_url, reset_pg
from bench.processes import WARMUP_ORDERS, run_in_child, run_workers
from bench.rows import Row
from bench.service import worker_seed
from bench.workers import CUSTOMER_EMAIL, CUSTOMER_NAME, LAST_UNITS, _guard, _timed_loop, order_lines

PLAIN_DB = os.environ.get("BENCH_PLAIN_DATABASE", "shop_bench_plain")
COMMITTED = "o.status IN ('confirmed', 'paid')"


def create_schema() -> None:
    """``db.create_all()`` on ``shop_bench_plain`` (run in a child: no engine left in the runner)."""
    from bench.peers.plain_flask.app import create_app, db

    with create_app(pg_url(PLAIN_DB)).app_context():
        db.create_all()
        db.engine.dispose()


def count_statements(warmup: int = 5, repeat: int = 20) -> dict:
    """SQL statements per order (cursor executions; BEGIN and COMMIT not included), and one order's list."""
    from sqlalchemy import event

    from bench.peers.plain_flask.app import create_app, db, place_order

    rng = random.Random(0)
    out = {}
    with create_app(pg_url(PLAIN_DB)).app_context():
        seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, sql, *rest: seen.append(sql))
        for case in ("hot", "spread"):
            for _ in range(warmup):
                place(place_order, case, rng)
            del seen[:]
            for _ in range(repeat):
                place(place_order, case, rng)
            out[case] = {
                "statements": len(seen) / repeat,
                "sql": [" ".join(s.split())[:90] for s in seen[: len(seen) // repeat]],
            }
        db.engine.dispose()
    return out


def setup_plain() -> dict:
    """Rebuild ``shop_bench_plain`` with ``db.create_all()``, add the catalogue; statements per order by case."""
    empty_database(PLAIN_DB)
    run_in_child(create_schema)
    now = now_utc()
    with psycopg.connect(pg_conninfo(PLAIN_DB)) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO products (id, sku, name, price_cents, status) VALUES (%s, %s, %s, %s, 'active')",
                catalogue(),
            )
            cur.executemany(
                "INSERT INTO inventory (product_id, quantity, updated_at) VALUES (%s, 0, %s)",
                [(pid, now) for pid, *_ in catalogue()],
            )
    reset_pg(PLAIN_DB)
    return run_in_child(count_statements)


def place(place_order, case: str, rng: random.Random) -> None:
    """One order of ``case`` through the port, as the service rows place theirs."""
    place_order(
        order_lines(case, rng), status="confirmed", customer_name=CUSTOMER_NAME, customer_email=CUSTOMER_EMAIL
    )


def plain_worker(case: str, seed: int, duration: float, warmup: int, barrier, queue) -> None:
    """Place orders through the plain Flask port and report to ``queue``."""
    _guard(_plain_worker, barrier, queue, case, seed, duration, warmup)


def _plain_worker(case, seed, duration, warmup, barrier, queue) -> None:
    from bench.peers.plain_flask.app import InsufficientStock, create_app, db, place_order

    rng = random.Random(seed)
    with create_app(pg_url(PLAIN_DB)).app_context():
        stop_on = (InsufficientStock,) if case == LAST_UNITS else ()
        _timed_loop(
            lambda: place(place_order, case, rng),
            warmup=warmup,
            duration=duration,
            barrier=barrier,
            queue=queue,
            stop_on=stop_on,
        )
        db.session.remove()
        db.engine.dispose()


def run_plain(
    case: str, clients: int, duration: float, *, warmup: int = WARMUP_ORDERS, hot_stock: int = HOT_STOCK
) -> Row:
    """One row of the port on a freshly reset ``shop_bench_plain``, checked; the orders of the service row."""
    reset_pg(PLAIN_DB, hot_stock)
    seed = worker_seed("service", case, clients)  # the same orders as the service row
    row = Row("plain", case, clients)
    measured = run_workers(plain_worker, lambda i: (case, seed * 100 + i), duration, row, warmup)
    if row.status == "ok":
        check_pg(row, measured.orders_placed, db=PLAIN_DB, committed=COMMITTED, hot_stock=hot_stock)
    return row
