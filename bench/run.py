"""`make bench`: order throughput from raw SQL up to HTTP, on one PostgreSQL database.

    .venv/bin/python -m bench.run [--duration 8] [--clients 1,4,8] [--only ceiling,service,...]

Every row runs on the same database (``shop_bench`` on 127.0.0.1:5432, user postgres),
built by the project's migrations, with the same catalogue (SKU-0001..SKU-1000 and
HOT-0001) and the same orders (hot: 1 unit of HOT-0001; spread: 1 unit each of 3
distinct SKUs drawn uniformly). Before each row the orders and the ledger are emptied
and the stock is reset (with its initial_stock ledger rows), then VACUUM + CHECKPOINT,
so every row starts from the same state; after each row the oversell check runs.

Sections (rows):
  ceiling  pgbench running the minimal SQL transaction (bench/ceiling_*.sql)
  service  shop.orders.place_order + commit_unit_of_work, in N worker processes
  http     POST /api/v1/orders under gunicorn (sync workers, one per CPU plus one, at most N), driven by
           wrk (N connections)
  cost     SQL statements and round trips per order of 1, 10 and 100 lines
  sqlite   the service layer on SQLite against the same transaction in plain sqlite3

Writes bench/results.json and bench/results.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import workers
from bench.workers import HOT_ID, HOT_SKU, N_SPREAD, spread_sku

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DB = os.environ.get("BENCH_DATABASE", "shop_bench")
HOT_STOCK = 10_000_000  # enough for any row: the hot SKU never runs out
SPREAD_STOCK = 1_000_000
WARMUP_ORDERS = 10  # per worker process, before the timed window
CASES = ("hot", "spread")
SQLITE_DIR = Path(tempfile.gettempdir()) / "shop_bench_sqlite"

if PG_DB in {"test", "shop_test", "postgres"}:
    raise SystemExit(f"refusing to benchmark on the shared database {PG_DB!r}")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- rows ---------------------------------------------------------------------------------


@dataclass
class Row:
    layer: str  # ceiling | service | http | sqlite3 | service-sqlite
    case: str  # hot | spread
    clients: int
    status: str = "ok"  # ok | pending | failed
    tps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    orders: int | None = None  # orders completed in the timed window (client-side count)
    errors: dict = field(default_factory=dict)
    oversold: int | None = None
    checks_ok: bool | None = None
    check_notes: list = field(default_factory=list)
    ratio: float | None = None  # tps / the reference (ceiling) at the same case and clients
    cpu_ms_per_order: float | None = None  # CPU of the client processes (service, sqlite3 rows)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.layer}_{self.case}_{self.clients}"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


# -- PostgreSQL set-up, reset and checks ----------------------------------------------------


def pg_conninfo(db: str = PG_DB, port: int = PG_PORT) -> str:
    return f"host={PG_HOST} port={port} user={PG_USER} dbname={db}"


def pg_url(db: str = PG_DB, port: int = PG_PORT) -> str:
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
    rows = [(pid, spread_sku(pid), f"Bench product {pid}", 100 + pid) for pid in range(1, N_SPREAD + 1)]
    rows.append((HOT_ID, HOT_SKU, "Bench hot product", 999))
    return rows


def initial_stock() -> dict[int, int]:
    return {pid: (HOT_STOCK if pid == HOT_ID else SPREAD_STOCK) for pid, *_ in catalogue()}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def setup_pg() -> None:
    with psycopg.connect(pg_conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
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
                "INSERT INTO inventory (product_id, quantity, updated_at) VALUES (%s, 0, %s)",
                [(pid, now) for pid in initial_stock()],
            )


def reset_pg() -> None:
    """Same starting state for every row: no orders, initial stock ledgered, vacuumed, checkpointed."""
    now = now_utc()
    with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
        with conn.transaction():
            conn.execute("TRUNCATE inventory_movements, order_items, orders RESTART IDENTITY CASCADE")
            conn.execute(
                "UPDATE inventory SET quantity = CASE WHEN product_id = %s THEN %s ELSE %s END,"
                " updated_at = %s",
                (HOT_ID, HOT_STOCK, SPREAD_STOCK, now),
            )
            conn.execute(
                "INSERT INTO inventory_movements (product_id, order_id, delta, quantity_after, reason,"
                " actor, created_at) SELECT product_id, NULL, quantity, quantity, 'initial_stock',"
                " 'bench-seed', %s FROM inventory",
                (now,),
            )
        for table in ("inventory", "products", "orders", "order_items", "inventory_movements"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")


CHECK_SQL = """
WITH sold AS (
    SELECT oi.product_id, SUM(oi.quantity) AS units FROM order_items oi JOIN orders o ON o.id = oi.order_id
    WHERE o.stock_committed_at IS NOT NULL GROUP BY oi.product_id),
ledger AS (
    SELECT product_id, SUM(delta) AS total,
           SUM(CASE WHEN reason = 'order_placed' THEN -delta ELSE 0 END) AS placed
    FROM inventory_movements GROUP BY product_id)
SELECT i.product_id, i.quantity, COALESCE(s.units, 0), COALESCE(l.total, 0), COALESCE(l.placed, 0)
FROM inventory i LEFT JOIN sold s ON s.product_id = i.product_id LEFT JOIN ledger l ON l.product_id = i.product_id
"""
ORPHANS_SQL = (
    "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS"
    " (SELECT 1 FROM inventory_movements m WHERE m.order_id = o.id)"
)


def check_rows(
    rows, orphans: int, order_count: int, row: Row, expected_orders: int | None, slack: int = 0
) -> None:
    """Oversell check: on hand + sold == initial, no negative stock, the ledger reconciles."""
    initial = initial_stock()
    oversold = 0
    notes = []
    for pid, quantity, sold, ledger_total, ledger_placed in rows:
        start = initial[pid]
        oversold += max(0, sold - start) + max(0, -quantity)
        if quantity + sold != start:
            notes.append(f"product {pid}: on hand {quantity} + sold {sold} != initial {start}")
        if ledger_total != quantity or ledger_placed != sold:
            notes.append(f"product {pid}: ledger {ledger_total} (placed {ledger_placed}) vs stock {quantity}")
        if quantity < 0:
            notes.append(f"product {pid}: negative stock {quantity}")
    if orphans:
        notes.append(f"{orphans} committed orders without ledger rows")
    if expected_orders is not None and not expected_orders <= order_count <= expected_orders + slack:
        notes.append(f"{order_count} orders in the database, clients counted {expected_orders}")
    row.oversold = oversold
    row.checks_ok = not notes
    row.check_notes = notes[:5]


def check_pg(row: Row, expected_orders: int | None, slack: int = 0) -> None:
    with psycopg.connect(pg_conninfo()) as conn:
        rows = conn.execute(CHECK_SQL).fetchall()
        orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
        count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    check_rows(rows, orphans, count, row, expected_orders, slack)


# -- ceiling: pgbench ---------------------------------------------------------------------


def pgbench_binary() -> str:
    with psycopg.connect(pg_conninfo("postgres")) as conn:
        major = conn.info.server_version // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/pgbench")
    return str(candidate) if candidate.exists() else (shutil.which("pgbench") or "pgbench")


def pgbench_cmd(case: str, clients: int, tag: str, port: int = PG_PORT) -> list[str]:
    return [
        pgbench_binary(),
        "-h",
        PG_HOST,
        "-p",
        str(port),
        "-U",
        PG_USER,
        "-n",
        "-M",
        "prepared",
        "-f",
        str(BENCH / f"ceiling_{case}.sql"),
        "-D",
        f"run={tag}",
        "-D",
        "seq=0",
        "-D",
        f"hot_id={HOT_ID}",
        "-c",
        str(clients),
        "-j",
        str(min(clients, os.cpu_count() or 1)),
        "--max-tries=10",
    ]


def run_ceiling(case: str, clients: int, duration: float, tag: str) -> Row:
    row = Row("ceiling", case, clients)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = pgbench_cmd(case, clients, tag) + [
            "-T",
            str(int(duration)),
            "-l",
            f"--log-prefix={tmp}/tx",
            PG_DB,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
        latencies, failed = [], 0
        for path in Path(tmp).iterdir():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    latencies.append(int(parts[2]) / 1e6)
                else:
                    failed += 1
    if proc.returncode:
        row.status, row.note = "failed", (proc.stderr.strip().splitlines() or ["pgbench failed"])[-1][:200]
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
    retried = re.search(r"number of transactions retried: (\d+)", proc.stdout)
    row.orders = len(latencies)
    row.tps = float(match.group(1)) if match else None
    row.p50_ms, row.p99_ms = ms(percentile(latencies, 50)), ms(percentile(latencies, 99))
    if failed:
        row.errors["failed transactions"] = failed
    if retried and int(retried.group(1)):
        row.errors["retried (deadlock/serialization)"] = int(retried.group(1))
    return row


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# -- worker processes (service layer, sqlite3) ------------------------------------------------


def run_workers(target, args_for, clients: int, duration: float, row: Row) -> Row:
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args_for(i), duration, WARMUP_ORDERS, barrier, queue), daemon=True)
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=180)
    except threading.BrokenBarrierError:
        pass
    results = []
    for _ in procs:
        try:
            results.append(queue.get(timeout=duration + 180))
        except Exception:  # noqa: BLE001
            results.append({"failed": "worker did not report"})
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    failures = [r["failed"] for r in results if "failed" in r]
    if failures:
        row.status = "failed"
        row.note = failures[0].strip().splitlines()[-1][:200]
        log("worker failure:\n" + failures[0])
        return row
    latencies = [x for r in results for x in r["latencies"]]
    elapsed = max(r["elapsed"] for r in results)
    row.orders = len(latencies)
    row.tps = round(len(latencies) / elapsed, 1)
    row.p50_ms, row.p99_ms = ms(percentile(latencies, 50)), ms(percentile(latencies, 99))
    if latencies:
        row.cpu_ms_per_order = round(sum(r["cpu"] for r in results) / len(latencies) * 1000, 3)
    for r in results:
        for k, v in r["errors"].items():
            row.errors[k] = row.errors.get(k, 0) + v
    return row


def run_service(case: str, clients: int, duration: float, url: str, layer: str = "service") -> Row:
    row = Row(layer, case, clients)
    seed = zlib.crc32(f"{case}{clients}{layer}".encode()) & 0xFFFF
    return run_workers(workers.service_worker, lambda i: (url, case, seed * 100 + i), clients, duration, row)


def run_in_child(fn, *args):
    """Run ``fn(*args)`` in a forked process and return its (picklable) result."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def target():
        try:
            queue.put(("ok", fn(*args)))
        except BaseException as exc:  # noqa: BLE001
            import traceback

            queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))

    proc = ctx.Process(target=target, daemon=True)
    proc.start()
    status, value = queue.get(timeout=600)
    proc.join(timeout=30)
    if status != "ok":
        raise RuntimeError(value)
    return value


# -- HTTP: gunicorn + wrk ---------------------------------------------------------------------


def api_route_present(url: str) -> bool:
    from shop import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    return any(
        rule.rule.rstrip("/") == "/api/v1/orders" and "POST" in (rule.methods or ())
        for rule in app.url_map.iter_rules()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, workers_count: int, url: str):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers_count),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--error-logfile",
                self.log.name,
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {Path(self.log.name).read_text()[-500:]}")
            try:
                urllib.request.urlopen(self.base + "/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        Path(self.log.name).unlink(missing_ok=True)


def post_order(base: str, case: str, key: str) -> tuple[int, str]:
    import random

    lines = [{"sku": sku, "quantity": q} for sku, q in workers.order_lines(case, random.Random(key))]
    body = json.dumps(
        {
            "status": "confirmed",
            "customer": {"name": workers.CUSTOMER_NAME, "email": workers.CUSTOMER_EMAIL},
            "lines": lines,
        }
    ).encode()
    req = urllib.request.Request(
        base + "/api/v1/orders",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()[:300]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:300]


def run_wrk(base: str, case: str, clients: int, duration: float, tag: str) -> dict:
    cmd = [
        "wrk",
        "-t",
        str(min(clients, os.cpu_count() or 1)),
        "-c",
        str(clients),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "wrk_orders.lua"),
        base,
        "--",
        case,
        tag,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"wrk gave no result: {proc.stdout[-300:]} {proc.stderr[-300:]}")


def http_workers(clients: int) -> int:
    """gunicorn sync workers for ``clients`` connections: one per CPU plus one, at most one per client.

    PostgreSQL and wrk share the same CPUs; more workers than that only add context switches
    (at 8 connections: 8 workers 255-303 requests/s, p99 70-92 ms; 2-3 workers 303-413, p99 30-53).
    """
    return min(clients, (os.cpu_count() or 1) + 1)


def run_http(case: str, clients: int, duration: float, tag: str) -> Row:
    row = Row("http", case, clients)
    server = Gunicorn(http_workers(clients), pg_url())
    try:
        server.wait_ready()
        status, body = post_order(server.base, case, f"probe-{tag}")
        if status != 201:
            row.status, row.note = "failed", f"probe POST answered {status}: {body[:150]}"
            return row
        run_wrk(server.base, case, clients, 1, tag + "w")  # warm every worker up
        warm = _db_order_count()
        result = run_wrk(server.base, case, clients, duration, tag)
    finally:
        server.stop()
    ok = result["requests"] - result["status"]
    errors = {k: result[k] for k in ("connect", "read", "write", "status", "timeout") if result[k]}
    row.errors = {f"wrk {k}": v for k, v in errors.items()}
    row.orders = ok
    row.tps = round(ok / (result["duration_us"] / 1e6), 1)
    row.p50_ms, row.p99_ms = round(result["p50_us"] / 1000, 3), round(result["p99_us"] / 1000, 3)
    row._expected = (warm, ok)  # type: ignore[attr-defined]
    return row


def _db_order_count() -> int:
    with psycopg.connect(pg_conninfo()) as conn:
        return conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]


# -- cost per order -------------------------------------------------------------------------


def measure_service_cost(line_counts: tuple[int, ...], repeat: int) -> dict:
    """Statements (cursor executions) and round trips per order, through the counting proxy."""
    from sqlalchemy import event

    from bench.wirecount import TurnCounter
    from shop import create_app
    from shop.database import commit_unit_of_work
    from shop.extensions import db
    from shop.orders import place_order

    proxy = TurnCounter((PG_HOST, PG_PORT))
    app = create_app({"DATABASE_URL": pg_url(port=proxy.port), "SECRET_KEY": "bench"})
    out = {}
    with app.app_context():
        statements: list[str] = []
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: statements.append(statement),
        )

        def place(lines):
            commit_unit_of_work(
                lambda: place_order(
                    db.session,
                    lines,
                    status="confirmed",
                    customer_name=workers.CUSTOMER_NAME,
                    customer_email=workers.CUSTOMER_EMAIL,
                ),
                actor="bench",
            )

        for n in line_counts:
            lines = [(spread_sku(pid), 1) for pid in range(1, n + 1)]
            for _ in range(6):  # warm caches and psycopg's prepared statements
                place(lines)
            s0, t0, c0, cpu0 = len(statements), proxy.snapshot(), time.perf_counter(), time.process_time()
            for _ in range(repeat):
                place(lines)
            elapsed, cpu = time.perf_counter() - c0, time.process_time() - cpu0
            out[str(n)] = {
                "statements": (len(statements) - s0) / repeat,
                "round_trips": (proxy.snapshot() - t0) / repeat,
                "latency_ms": round(elapsed / repeat * 1000, 3),
                "cpu_ms": round(cpu / repeat * 1000, 3),
                "sql": [
                    re.sub(r"\s+", " ", s)[:90] for s in statements[-int((len(statements) - s0) / repeat) :]
                ],
            }
        db.session.remove()
        db.engine.dispose()
    proxy.close()
    return out


def measure_ceiling_cost() -> dict:
    """Round trips per pgbench transaction (1-line hot and 3-line spread), through the proxy."""
    from bench.wirecount import TurnCounter

    proxy = TurnCounter((PG_HOST, PG_PORT))
    out = {}
    for case in CASES:
        counts = []
        for n in (1, 21):
            before = proxy.snapshot()
            subprocess.run(
                pgbench_cmd(case, 1, f"c{case[0]}{n}", proxy.port) + ["-t", str(n), PG_DB],
                capture_output=True,
                check=True,
                timeout=120,
            )
            counts.append(proxy.snapshot() - before)
        sql = (BENCH / f"ceiling_{case}.sql").read_text()
        body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith(("--", "\\")))
        stmts = [s.strip() for s in body.split(";") if s.strip()]
        out[case] = {
            "round_trips": (counts[1] - counts[0]) / 20,
            "statements": sum(1 for s in stmts if s.upper() not in ("BEGIN", "COMMIT")),
        }
    proxy.close()
    return out


# -- SQLite -----------------------------------------------------------------------------------


def setup_sqlite() -> Path:
    import sqlite3

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
        conn.executemany(
            "INSERT INTO inventory (product_id, quantity, updated_at) VALUES (?, ?, ?)",
            [(pid, q, now) for pid, q in initial_stock().items()],
        )
        conn.executemany(
            "INSERT INTO inventory_movements (product_id, order_id, delta, quantity_after, reason,"
            " actor, created_at) VALUES (?, NULL, ?, ?, 'initial_stock', 'bench-seed', ?)",
            [(pid, q, q, now) for pid, q in initial_stock().items()],
        )
    conn.execute("VACUUM")
    conn.close()
    return pristine


def reset_sqlite(pristine: Path) -> Path:
    target = SQLITE_DIR / "run.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, target)
    return target


def check_sqlite(path: Path, row: Row, expected: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    rows = conn.execute(CHECK_SQL).fetchall()
    orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
    count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    conn.close()
    check_rows(rows, orphans, count, row, expected)


# -- machine, report --------------------------------------------------------------------------


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    with psycopg.connect(pg_conninfo("postgres")) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync',"
                " 'synchronous_commit', 'shared_buffers', 'max_connections')"
            ).fetchall()
        )
    import sqlalchemy

    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "shop", "migrations"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "pg_settings": settings,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "commit": rev.strip() + ("+dirty" if dirty.strip() else ""),
    }


def fmt(value, digits=1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


LAYER_NAMES = {
    "ceiling": "ceiling (pgbench, SQL)",
    "service": "service (ORM + observer)",
    "http": "HTTP (gunicorn + wrk)",
    "sqlite3": "SQLite: plain sqlite3",
    "service-sqlite": "SQLite: service layer",
}


LAYER_ORDER = list(LAYER_NAMES)


def table(rows: list[Row]) -> str:
    rows = sorted(rows, key=lambda r: (LAYER_ORDER.index(r.layer), CASES.index(r.case), r.clients))
    out = [
        "| layer | case | clients | orders/s | p50 ms | p99 ms | × ceiling | oversold | client CPU ms/order | checks |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.status != "ok":
            out.append(
                f"| {LAYER_NAMES[r.layer]} | {r.case} | {r.clients} | {r.status} | | | | | | {r.note} |"
            )
            continue
        checks = "ok" if r.checks_ok else "FAIL: " + "; ".join(r.check_notes)
        if r.errors:
            checks += " (" + ", ".join(f"{k}: {v}" for k, v in r.errors.items()) + ")"
        out.append(
            f"| {LAYER_NAMES[r.layer]} | {r.case} | {r.clients} | {fmt(r.tps)} | {fmt(r.p50_ms, 2)} | "
            f"{fmt(r.p99_ms, 2)} | {fmt(r.ratio, 2)} | {fmt(r.oversold)} | {fmt(r.cpu_ms_per_order, 2)} | {checks} |"
        )
    return "\n".join(out)


def best(rows: list[Row], layer: str, case: str) -> Row | None:
    ok = [r for r in rows if r.layer == layer and r.case == case and r.status == "ok" and r.tps]
    return max(ok, key=lambda r: r.tps) if ok else None


def find(rows: list[Row], layer: str, case: str, clients: int) -> Row | None:
    return next(
        (r for r in rows if (r.layer, r.case, r.clients) == (layer, case, clients) and r.status == "ok"), None
    )


def summarise(rows: list[Row], cost: dict, args, elapsed: float) -> dict:
    for r in rows:
        ref_layer = "sqlite3" if r.layer.endswith("sqlite") or r.layer == "sqlite3" else "ceiling"
        ref = find(rows, ref_layer, r.case, r.clients)
        if r.status == "ok" and ref and ref.tps and r.tps is not None:
            r.ratio = round(r.tps / ref.tps, 3)
    result: dict = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": args.duration,
        "loadavg_start": args.load_start,
        "clients": args.clients,
        "machine": machine(),
        "wall_time_s": round(elapsed, 1),
        "http_workers_by_clients": {str(n): http_workers(n) for n in args.clients},
    }
    for layer in ("ceiling", "service", "http"):
        for case in CASES:
            b = best(rows, layer, case)
            result[f"{layer}_{case}_tps"] = b.tps if b else None
            result[f"{layer}_{case}_best_clients"] = b.clients if b else None
            result[f"{layer}_{case}_tps_by_clients"] = {
                str(r.clients): r.tps
                for r in rows
                if r.layer == layer and r.case == case and r.status == "ok"
            }
    for layer in ("service", "http"):
        for case in CASES:
            ceiling, mine = result[f"ceiling_{case}_tps"], result[f"{layer}_{case}_tps"]
            result[f"ratio_{layer}_{case}"] = round(mine / ceiling, 3) if mine and ceiling else None
            b = best(rows, layer, case)
            same = find(rows, "ceiling", case, b.clients) if b else None
            result[f"ratio_{layer}_{case}_same_clients"] = round(b.tps / same.tps, 3) if b and same else None
    for layer in ("ceiling", "service", "http"):
        for case in CASES:
            r = find(rows, layer, case, max(args.clients))
            result[f"{layer}_{case}_p99_ms_at_{max(args.clients)}"] = r.p99_ms if r else None
    result["http_status"] = next(
        (r.status + (": " + r.note if r.note else "") for r in rows if r.layer == "http"), "not run"
    )
    result["statements_by_lines"] = {n: c["statements"] for n, c in cost.get("service", {}).items()}
    result["round_trips_by_lines"] = {n: c["round_trips"] for n, c in cost.get("service", {}).items()}
    result["latency_ms_by_lines_1_client"] = {n: c["latency_ms"] for n, c in cost.get("service", {}).items()}
    result["cpu_ms_by_lines_1_client"] = {n: c["cpu_ms"] for n, c in cost.get("service", {}).items()}
    result["ceiling_cost"] = cost.get("ceiling", {})
    result["service_sql_by_lines"] = {n: c["sql"] for n, c in cost.get("service", {}).items()}
    result["oversold_total"] = sum(r.oversold or 0 for r in rows)
    result["all_checks_ok"] = all(r.checks_ok for r in rows if r.status == "ok")
    result["targets"] = targets(result, args)
    result["rows"] = [{k: v for k, v in asdict(r).items()} | {"key": r.key} for r in rows]
    return result


def targets(res: dict, args) -> dict:
    n = max(args.clients)
    out = {}

    def target(name, value, limit, ok):
        out[name] = {"value": value, "target": limit, "met": None if value is None else bool(ok)}

    v = res.get("ratio_service_hot")
    target("service_hot_vs_ceiling", v, ">= 0.6", v is not None and v >= 0.6)
    v = res.get("ratio_http_hot")
    target("http_hot_vs_ceiling", v, ">= 0.3", v is not None and v >= 0.3)
    # The other reading of "at its best client count": the ceiling at the layer's best client count.
    for layer, goal in (("service", 0.6), ("http", 0.3)):
        v = res.get(f"ratio_{layer}_hot_same_clients")
        target(f"{layer}_hot_vs_ceiling_same_clients", v, f">= {goal}", v is not None and v >= goal)
    stmts = res.get("statements_by_lines") or {}
    flat = len(set(stmts.values())) == 1 and bool(stmts)
    target("statements_flat_in_lines", stmts or None, "same for 1, 10, 100 lines", flat)
    worst = max(stmts.values()) if stmts else None
    target("statements_per_order", worst, "<= 6", worst is not None and worst <= 6)
    for layer in ("service", "http"):
        for case in CASES:
            mine, ceil = res.get(f"{layer}_{case}_p99_ms_at_{n}"), res.get(f"ceiling_{case}_p99_ms_at_{n}")
            ratio = round(mine / ceil, 2) if mine and ceil else None
            target(
                f"p99_{layer}_{case}_at_{n}_vs_ceiling", ratio, "<= 3.0", ratio is not None and ratio <= 3.0
            )
    return out


def markdown(res: dict, rows: list[Row]) -> str:
    m = res["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated {res['generated_at']} by `make bench` ({res['duration_s']} s per row, clients "
        f"{', '.join(map(str, res['clients']))}; whole run {res['wall_time_s']} s) at commit {m['commit']}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}; "
        f"PostgreSQL {m['postgresql']} (fsync={m['pg_settings'].get('fsync')}, synchronous_commit="
        f"{m['pg_settings'].get('synchronous_commit')}); Python {m['python']}, SQLAlchemy {m['sqlalchemy']}, "
        f"psycopg {m['psycopg']}. Server, load generators and the app share the same CPUs. "
        f"Load average before the run {res['loadavg_start']}, after {m['loadavg_end']} "
        "(anything else running on the machine skews every row).",
        "",
        table(rows),
        "",
        "Clients: worker processes (service), pgbench or wrk connections (ceiling, HTTP); HTTP rows run "
        f"gunicorn with {', '.join(str(n) for n in res['http_workers_by_clients'].values())} sync workers at "
        f"{', '.join(res['http_workers_by_clients'])} clients. "
        "× ceiling: orders/s divided by the ceiling's at the same case and client count "
        "(SQLite rows: by plain sqlite3's). Oversold: units sold beyond the initial stock plus negative stock "
        "(must be 0). Checks: on hand + sold = initial for every product, the ledger sums to the stock, "
        "every order has its ledger rows, and the database holds the orders the clients counted.",
        "",
        "## Targets",
        "",
        "| target | value | goal | met |",
        "|---|---|---|---|",
    ]
    for name, t in res["targets"].items():
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {name} | {t['value']} | {t['target']} | {met} |")
    lines += [
        "",
        "The headline ratios (`*_vs_ceiling`) divide each layer's best orders/s by the ceiling's best, "
        "whatever the client counts; `*_same_clients` divide by the ceiling at the layer's best client count "
        '(the other reading of the issue\'s "at its best client count").',
        "",
    ]
    if res.get("statements_by_lines"):
        lines += [
            "## Cost per order (service layer, PostgreSQL, 1 client)",
            "",
            "| lines | SQL statements | round trips | latency ms | client CPU ms |",
            "|---:|---:|---:|---:|---:|",
        ]
        for n in res["statements_by_lines"]:
            lines.append(
                f"| {n} | {res['statements_by_lines'][n]:g} | {res['round_trips_by_lines'][n]:g} | "
                f"{res['latency_ms_by_lines_1_client'][n]:.2f} | {res['cpu_ms_by_lines_1_client'][n]:.2f} |"
            )
        cc = res.get("ceiling_cost") or {}
        if cc:
            lines += [
                "",
                "Ceiling (pgbench script): "
                + "; ".join(
                    f"{case}: {c['statements']} statements + BEGIN/COMMIT, {c['round_trips']:g} round trip(s)"
                    for case, c in cc.items()
                )
                + ".",
            ]
        first = next(iter(res["service_sql_by_lines"].values()), [])
        lines += [
            "",
            "Statements of one service-layer order (round trips not listed here: BEGIN, COMMIT, and a "
            "ping when the pooled connection sat idle for over a second):",
            "",
        ]
        lines += [f"{i}. `{s}`" for i, s in enumerate(first, 1)]
    lines.append("")
    return "\n".join(lines)


README = ROOT / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(md: str) -> None:
    """Put the run's table and targets (results.md up to the cost section) in the README's Performance section."""
    text = README.read_text()
    start, end = text.split(README_START)[0], text.split(README_END)[1]
    summary = (
        md.split("## Cost per order")[0]
        .replace("# Benchmark results\n\n", "")
        .replace("## Targets", "Targets:")
    )
    README.write_text(f"{start}{README_START}\n{summary.strip()}\n{README_END}{end}")


# -- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 8)))
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--sqlite-clients", default="1,4")
    parser.add_argument("--only", default="ceiling,service,http,cost,sqlite")
    parser.add_argument("--out", default=str(BENCH))
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    sqlite_clients = [int(c) for c in args.sqlite_clients.split(",")]
    sections = set(args.only.split(","))
    started = time.monotonic()
    args.load_start = [round(x, 2) for x in os.getloadavg()]
    if args.load_start[0] > 0.5 * (os.cpu_count() or 1):
        log(
            f"warning: load average {args.load_start} before the run: other work on this machine skews the rows"
        )
    tag = time.strftime("%H%M%S")
    rows: list[Row] = []
    cost: dict = {}

    log(f"setting up {PG_DB}: migrations + catalogue of {N_SPREAD + 1} products")
    setup_pg()
    url = pg_url()

    def pg_row(layer, case, n, make, expected_slack=0):
        reset_pg()
        try:
            row = make()
        except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
            row = Row(layer, case, n, status="failed", note=f"{type(exc).__name__}: {exc}"[:200])
        if row.status == "ok":
            expected = getattr(row, "_expected", None)
            if expected is not None:  # http: warm-up orders already in the database + timed ones
                check_pg(row, expected[0] + expected[1], slack=2 * row.clients)  # in flight at both wrk stops
            elif row.layer == "service":
                check_pg(row, row.orders + WARMUP_ORDERS * row.clients)
            else:
                check_pg(row, row.orders, slack=expected_slack)
        rows.append(row)
        log(
            f"{row.layer:8} {row.case:6} clients={row.clients}: {row.status} {fmt(row.tps)} orders/s "
            f"p50={fmt(row.p50_ms, 2)} p99={fmt(row.p99_ms, 2)} oversold={row.oversold} "
            f"checks={'ok' if row.checks_ok else row.check_notes} {row.errors or ''} {row.note}"
        )

    http_ready = False
    if "http" in sections:
        http_ready = run_in_child(api_route_present, url)
        if not http_ready:
            log("POST /api/v1/orders is not in the app yet: HTTP rows pending")
    # Rows of the same case and client count run back to back, so that each ratio compares
    # measurements taken under the same conditions.
    for case in CASES:
        for n in args.clients:
            if "ceiling" in sections:
                pg_row(
                    "ceiling",
                    case,
                    n,
                    lambda case=case, n=n: run_ceiling(case, n, args.duration, f"{tag}{case[0]}{n}"),
                )
            if "service" in sections:
                pg_row("service", case, n, lambda case=case, n=n: run_service(case, n, args.duration, url))
            if "http" in sections and http_ready:
                pg_row(
                    "http",
                    case,
                    n,
                    lambda case=case, n=n: run_http(case, n, args.duration, f"{tag}{case[0]}{n}"),
                )
            elif "http" in sections:
                rows.append(
                    Row(
                        "http",
                        case,
                        n,
                        status="pending",
                        note="POST /api/v1/orders is not in the app yet (shop/api/ in progress)",
                    )
                )
    if "cost" in sections:
        reset_pg()
        log("measuring statements and round trips per order")
        cost["service"] = run_in_child(measure_service_cost, (1, 10, 100), 20)
        cost["ceiling"] = run_in_child(measure_ceiling_cost)
        for n, c in cost["service"].items():
            log(
                f"cost {n:>3} lines: {c['statements']:g} statements, {c['round_trips']:g} round trips, "
                f"{c['latency_ms']:.2f} ms, {c['cpu_ms']:.2f} ms CPU"
            )
    if "sqlite" in sections:
        pristine = setup_sqlite()
        for case in CASES:
            for n in sqlite_clients:
                for layer in ("sqlite3", "service-sqlite"):
                    path = reset_sqlite(pristine)
                    row = Row(layer, case, n)
                    seed = zlib.crc32(f"{case}{n}{layer}".encode()) & 0xFFFF
                    if layer == "sqlite3":
                        run_workers(
                            workers.sqlite_direct_worker,
                            lambda i, path=path, seed=seed, case=case: (str(path), case, seed * 100 + i),
                            n,
                            args.duration,
                            row,
                        )
                    else:
                        run_workers(
                            workers.service_worker,
                            lambda i, path=path, seed=seed, case=case: (
                                f"sqlite:///{path}",
                                case,
                                seed * 100 + i,
                            ),
                            n,
                            args.duration,
                            row,
                        )
                    if row.status == "ok":
                        check_sqlite(path, row, row.orders + WARMUP_ORDERS * n)
                    rows.append(row)
                    log(
                        f"{layer:14} {case:6} clients={n}: {row.status} {fmt(row.tps)} orders/s "
                        f"p50={fmt(row.p50_ms, 2)} p99={fmt(row.p99_ms, 2)} oversold={row.oversold} "
                        f"checks={'ok' if row.checks_ok else row.check_notes} {row.errors or ''} {row.note}"
                    )
        shutil.rmtree(SQLITE_DIR, ignore_errors=True)

    result = summarise(rows, cost, args, time.monotonic() - started)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result, rows)
    (out / "results.md").write_text(md)
    if out.resolve() == BENCH.resolve() and set(args.only.split(",")) >= {"ceiling", "service", "http"}:
        update_readme(md)
    print()
    print(md)
    failed = [r.key for r in rows if r.status == "ok" and not r.checks_ok]
    if failed or result["oversold_total"]:
        log(f"OVERSELL/CONSISTENCY CHECK FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
