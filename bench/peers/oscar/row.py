"""The django-oscar rows: Oscar's checkout in N processes of its own virtualenv, on its own database.

Runs in the shop's virtualenv: it builds ``shop_bench_oscar`` with Oscar's migrations and
bench/peers/oscar/peer.py (a process of ``.venv-oscar``), resets it before each row with SQL,
starts the workers through bench.processes.run_commands and checks the stock records after.
"""

from __future__ import annotations

import json
import os
import subprocess

import psycopg

from bench import ROOT
from bench.database import HOT_STOCK, SPREAD_STOCK, empty_database, initial_stock, pg_conninfo
from bench.processes import WARMUP_ORDERS, run_commands
from bench.rows import Row
from bench.service import worker_seed
from bench.workers import HOT_ID

OSCAR_DB = os.environ.get("BENCH_OSCAR_DATABASE", "shop_bench_oscar")
VENV = ROOT / ".venv-oscar"
ORDER_TABLES = "order_order, order_line, order_lineprice, basket_basket, basket_line, analytics_productrecord"
CHECK_SQL = """
SELECT s.id, s.num_in_stock, COALESCE(s.num_allocated, 0), COALESCE(SUM(l.quantity), 0)
FROM partner_stockrecord s LEFT JOIN order_line l ON l.stockrecord_id = s.id GROUP BY s.id
"""
LINELESS_SQL = (
    "SELECT COUNT(*) FROM order_order o WHERE NOT EXISTS (SELECT 1 FROM order_line l WHERE l.order_id = o.id)"
)


def available() -> bool:
    """Whether bench/install-tools.sh has built the Oscar virtualenv."""
    return (VENV / "bin" / "python").exists()


def oscar(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a Python command of the Oscar virtualenv from the repository root, on ``OSCAR_DB``."""
    return subprocess.run([str(VENV / "bin" / "python"), *args], cwd=ROOT, env=oscar_env(), **kwargs)


def oscar_env() -> dict:
    """The environment of the Oscar processes: the repository on the path, the peer's database."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_OSCAR_DATABASE": OSCAR_DB,
        "DJANGO_SETTINGS_MODULE": "bench.peers.oscar.settings",
    }


def setup_oscar() -> dict:
    """Rebuild ``shop_bench_oscar`` (``manage.py migrate``), add the catalogue; statements per order by case."""
    empty_database(OSCAR_DB)
    for args in (
        ("bench/peers/oscar/manage.py", "migrate", "--noinput"),
        ("-m", "bench.peers.oscar.peer", "setup"),
    ):
        proc = oscar(*args, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}")
    reset_oscar()
    proc = oscar("-m", "bench.peers.oscar.peer", "statements", capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def reset_oscar(hot_stock: int = HOT_STOCK) -> None:
    """The same starting state as the shop's rows: no orders or baskets, the initial stock, nothing allocated."""
    with psycopg.connect(pg_conninfo(OSCAR_DB), autocommit=True) as conn:
        with conn.transaction():
            conn.execute(f"TRUNCATE {ORDER_TABLES} RESTART IDENTITY CASCADE")
            conn.execute(
                "UPDATE partner_stockrecord SET num_allocated = 0,"
                " num_in_stock = CASE WHEN id = %s THEN %s ELSE %s END",
                (HOT_ID, hot_stock, SPREAD_STOCK),
            )
        for table in ("partner_stockrecord", "catalogue_product", *ORDER_TABLES.split(", ")):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")


def check_oscar(row: Row, orders_placed: int, hot_stock: int = HOT_STOCK) -> None:
    """Oversold units and allocation mismatches after a row, as the shop's check counts them.

    Oversold: units on orders beyond the initial stock, per stock record (= num_allocated -
    num_in_stock when the allocations match the orders). Mismatch: a stock record whose
    num_allocated differs from the units on its order lines, or whose num_in_stock changed.
    """
    initial = initial_stock(hot_stock)
    with psycopg.connect(pg_conninfo(OSCAR_DB)) as conn:
        records = conn.execute(CHECK_SQL).fetchall()
        lineless = conn.execute(LINELESS_SQL).fetchone()[0]
        count = conn.execute("SELECT COUNT(*) FROM order_order").fetchone()[0]
    oversold = mismatches = 0
    notes = []
    for pid, in_stock, allocated, sold in records:
        oversold += max(0, sold - initial[pid])
        if sold > initial[pid]:
            notes.append(f"product {pid}: sold {sold} > stock {initial[pid]} (allocated {allocated})")
        if allocated != sold or in_stock != initial[pid]:
            mismatches += 1
            notes.append(f"product {pid}: allocated {allocated}, in stock {in_stock}, on orders {sold}")
    if lineless:
        notes.append(f"{lineless} orders without lines")
    if count != orders_placed:
        notes.append(f"{count} orders in the database, clients counted {orders_placed}")
    row.oversold, row.ledger_mismatches = oversold, mismatches
    row.checks_ok, row.check_notes = not notes, notes[:5]


def run_oscar(
    case: str, clients: int, duration: float, *, warmup: int = WARMUP_ORDERS, hot_stock: int = HOT_STOCK
) -> Row:
    """One Oscar row on a freshly reset ``shop_bench_oscar``, checked; the orders of the service row."""
    reset_oscar(hot_stock)
    seed = worker_seed("service", case, clients)  # the same orders as the service row
    commands = [
        [str(VENV / "bin" / "python"), "-m", "bench.peers.oscar.peer", "work"]
        + [case, str(seed * 100 + i), str(duration), str(warmup)]
        for i in range(clients)
    ]
    row = Row("oscar", case, clients)
    measured = run_commands(commands, duration, row, warmup, cwd=ROOT, env=oscar_env())
    if row.status == "ok":
        check_oscar(row, measured.orders_placed, hot_stock)
    return row
