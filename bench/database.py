"""The benchmark's databases: PostgreSQL ``shop_bench`` and a SQLite file, built by the migrations, seeded, reset."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import ROOT
from bench.workers import HOT_ID, HOT_SKU, N_SPREAD, spread_sku

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DB = os.environ.get("BENCH_DATABASE", "shop_bench")
HOT_STOCK = 10_000_000  # enough for any row: the hot SKU never runs out
SPREAD_STOCK = 1_000_000
OUTBOX_TABLES = ("events", "event_deliveries", "webhook_endpoints", "worker_clock")  # emptied by reset_pg
SQLITE_DIR = Path(tempfile.gettempdir()) / "shop_bench_sqlite"

if PG_DB in {"test", "shop_test", "postgres"}:
    raise SystemExit(f"refusing to benchmark on the shared database {PG_DB!r}")


def pg_conninfo(db: str = PG_DB, port: int = PG_PORT) -> str:
    """libpq connection string of ``db`` (psycopg, pgbench's server)."""
    return f"host={PG_HOST} port={port} user={PG_USER} dbname={db}"


def pg_url(db: str = PG_DB, port: int = PG_PORT) -> str:
    """SQLAlchemy URL of ``db``, as the shop's DATABASE_URL."""
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{port}/{db}"


def migrate(url: str) -> None:
    """Build the schema with the project's migrations (`flask --app app db upgrade`)."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"}
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"migration failed on {url}:\n{proc.stdout}\n{proc.stderr}")


def catalogue() -> list[tuple[int, str, str, int]]:
    """The products of every row: (id, sku, name, price_cents), spread SKUs then the hot one."""
    rows = [(pid, spread_sku(pid), f"Bench product {pid}", 100 + pid) for pid in range(1, N_SPREAD + 1)]
    rows.append((HOT_ID, HOT_SKU, "Bench hot product", 999))
    return rows


def initial_stock(hot_stock: int = HOT_STOCK) -> dict[int, int]:
    """Stock of each product id at the start of every row (``hot_stock`` for the hot SKU)."""
    return {pid: (hot_stock if pid == HOT_ID else SPREAD_STOCK) for pid, *_ in catalogue()}


def now_utc() -> datetime:
    """The current UTC time without tzinfo, as the shop stores timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


# -- PostgreSQL ---------------------------------------------------------------------------------


def empty_database(db: str) -> None:
    """Create the database ``db`` if needed and give it an empty ``public`` schema."""
    if db in {"test", "shop_test", "postgres"}:
        raise SystemExit(f"refusing to benchmark on the shared database {db!r}")
    with psycopg.connect(pg_conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')
    with psycopg.connect(pg_conninfo(db), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def setup_pg() -> None:
    """Create ``shop_bench`` if needed, rebuild its schema with the migrations and seed the catalogue."""
    empty_database(PG_DB)
    migrate(pg_url())
    now = now_utc()
    with psycopg.connect(pg_conninfo()) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO products (id, sku, name, price_cents, status, low_stock_threshold, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, 'active', 5, %s, %s)",
                [(*row, now, now) for row in catalogue()],
            )
            cur.execute("SELECT setval('products_id_seq', %s)", (HOT_ID,))
            cur.executemany(
                "INSERT INTO inventory (product_id, location_id, quantity, updated_at)"
                " SELECT %s, id, 0, %s FROM locations WHERE code = 'main'",
                [(pid, now) for pid in initial_stock()],
            )


def reset_pg(db: str = PG_DB, hot_stock: int = HOT_STOCK) -> None:
    """Same starting state for every row: no orders, no events, initial stock ledgered, vacuumed, checkpointed.

    Also resets the plain Flask port's database, whose tables have the same names and columns.
    """
    now = now_utc()
    with psycopg.connect(pg_conninfo(db), autocommit=True) as conn:
        with conn.transaction():
            # The shop's outbox too (the plain Flask port has none): events the other rows left would
            # be fanned out to the webhooks row's endpoint, and a growing table slows every row.
            outbox = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                " AND table_name = ANY(%s)",
                (list(OUTBOX_TABLES),),
            ).fetchall()
            tables = ", ".join(["inventory_movements", "order_items", "orders", *(t for (t,) in outbox)])
            conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            conn.execute(
                "UPDATE inventory SET quantity = CASE WHEN product_id = %s THEN %s ELSE %s END,"
                " updated_at = %s",
                (HOT_ID, hot_stock, SPREAD_STOCK, now),
            )
            # The shop's ledger rows are per location; the plain Flask port's have none.
            located = conn.execute(
                "SELECT COUNT(*) FROM information_schema.columns"
                " WHERE table_name = 'inventory_movements' AND column_name = 'location_id'"
            ).fetchone()[0]
            columns = "product_id, location_id" if located else "product_id"
            conn.execute(
                f"INSERT INTO inventory_movements ({columns}, order_id, delta, quantity_after, reason,"
                f" actor, created_at) SELECT {columns}, NULL, quantity, quantity, 'initial_stock',"
                " 'bench-seed', %s FROM inventory",
                (now,),
            )
        for table in ("inventory", "products", "orders", "order_items", "inventory_movements"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")


# The locations of the 3-location spread row, after main: code, name, priority.
OTHER_PLACES = (("floor", "Shop floor", 1), ("back", "Back room", 2))


def place_spread_stock(places: int, db: str = PG_DB) -> None:
    """Keep spread SKU ``i`` at location ``(i - 1) % places`` (main, floor, back) and the hot SKU at main.

    With three, an order of three random SKUs seldom finds them all in one place: its lines are
    allocated one by one (the shop's second statement on PostgreSQL). With one, everything is at main
    again. Each product keeps one stock row, so ``reset_pg`` and the checks work as for any row.
    """
    with psycopg.connect(pg_conninfo(db), autocommit=True) as conn, conn.transaction():
        for code, name, priority in OTHER_PLACES[: places - 1]:
            conn.execute(
                "INSERT INTO locations (code, name, priority, fulfils_orders, active, created_at)"
                " VALUES (%s, %s, %s, true, true, now() AT TIME ZONE 'UTC') ON CONFLICT (code) DO NOTHING",
                (code, name, priority),
            )
        codes = ["main", *(code for code, _, _ in OTHER_PLACES[: places - 1])]
        ids = [conn.execute("SELECT id FROM locations WHERE code = %s", (c,)).fetchone()[0] for c in codes]
        conn.execute(
            "UPDATE inventory SET location_id = CASE WHEN product_id = %s THEN %s"
            " ELSE (%s::integer[])[(product_id - 1) %% %s + 1] END",
            (HOT_ID, ids[0], ids, places),
        )


def count_pg_orders() -> int:
    """Number of orders in ``shop_bench``."""
    with psycopg.connect(pg_conninfo()) as conn:
        return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]


# -- SQLite -------------------------------------------------------------------------------------


def setup_sqlite() -> Path:
    """A migrated, seeded SQLite file under SQLITE_DIR, which every SQLite row starts from a copy of."""
    shutil.rmtree(SQLITE_DIR, ignore_errors=True)
    SQLITE_DIR.mkdir(parents=True)
    pristine = SQLITE_DIR / "pristine.sqlite"
    migrate(f"sqlite:///{pristine}")
    now = now_utc().isoformat(sep=" ")
    conn = sqlite3.connect(pristine)
    with conn:
        conn.executemany(
            "INSERT INTO products (id, sku, name, price_cents, status, low_stock_threshold,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'active', 5, ?, ?)",
            [(*row, now, now) for row in catalogue()],
        )
        main = conn.execute("SELECT id FROM locations WHERE code = 'main'").fetchone()[0]
        conn.executemany(
            "INSERT INTO inventory (product_id, location_id, quantity, updated_at) VALUES (?, ?, ?, ?)",
            [(pid, main, q, now) for pid, q in initial_stock().items()],
        )
        conn.executemany(
            "INSERT INTO inventory_movements (product_id, location_id, order_id, delta, quantity_after, reason,"
            " actor, created_at) VALUES (?, ?, NULL, ?, ?, 'initial_stock', 'bench-seed', ?)",
            [(pid, main, q, q, now) for pid, q in initial_stock().items()],
        )
    conn.execute("VACUUM")
    conn.close()
    return pristine


def reset_sqlite(pristine: Path) -> Path:
    """A fresh copy of the pristine file (no WAL left over), for one row."""
    target = SQLITE_DIR / "run.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, target)
    return target


def remove_sqlite_files() -> None:
    """Delete SQLITE_DIR and the files in it."""
    shutil.rmtree(SQLITE_DIR, ignore_errors=True)
