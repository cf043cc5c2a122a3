"""The SQLite rows: the service layer on SQLite against the same transaction in plain sqlite3."""

from __future__ import annotations

from pathlib import Path

from bench import workers
from bench.checks import check_sqlite
from bench.database import reset_sqlite
from bench.processes import WARMUP_ORDERS, collect, run_together, run_workers
from bench.rows import Row
from bench.service import worker_seed

SQLITE_LAYERS = ("sqlite3", "service-sqlite")
MIXED_WRITERS = MIXED_READERS = 3
LOCKED = "database is locked"


def run_sqlite(layer: str, case: str, clients: int, duration: float, pristine: Path) -> Row:
    """One SQLite row (``sqlite3`` or ``service-sqlite``) on a fresh copy of ``pristine``, checked."""
    path = reset_sqlite(pristine)
    seed = worker_seed(layer, case, clients)
    if layer == "sqlite3":
        target, database = workers.sqlite_direct_worker, str(path)
    else:
        target, database = workers.service_worker, f"sqlite:///{path}"
    measured = run_workers(
        target, lambda i: (database, case, seed * 100 + i), duration, Row(layer, case, clients)
    )
    if measured.row.status == "ok":
        check_sqlite(path, measured.row, measured.orders_placed)
    return measured.row


def run_mixed(duration: float, pristine: Path) -> list[Row]:
    """Writers and readers at once on one SQLite file: 3 processes checking out, 3 reading catalog pages.

    Only units of work take SQLite's write lock; the readers read a WAL snapshot beside the writer.
    Two rows: the writers' (spread orders, checked like every SQLite row) and the readers'.
    """
    path = reset_sqlite(pristine)
    url = f"sqlite:///{path}"
    seed = worker_seed("sqlite-mixed", "spread", MIXED_WRITERS + MIXED_READERS)
    jobs = [(workers.service_worker, (url, "spread", seed * 100 + i)) for i in range(MIXED_WRITERS)]
    jobs += [
        (workers.catalog_reader_worker, (url, "catalog", seed * 100 + 50 + i)) for i in range(MIXED_READERS)
    ]
    results = run_together(jobs, duration, WARMUP_ORDERS)
    writers = collect(
        Row("sqlite-mixed-writers", "spread", MIXED_WRITERS), results[:MIXED_WRITERS], WARMUP_ORDERS
    )
    readers = collect(
        Row("sqlite-mixed-readers", "catalog", MIXED_READERS), results[MIXED_WRITERS:], WARMUP_ORDERS
    )
    if writers.row.status == "ok":
        check_sqlite(path, writers.row, writers.orders_placed)  # the readers changed nothing: the same check
        readers.row.checks_ok, readers.row.check_notes = writers.row.checks_ok, ["reads only"]
    return [writers.row, readers.row]


def locked_errors(row: Row) -> int:
    """How many of ``row``'s operations failed with SQLite's "database is locked"."""
    return sum(n for error, n in row.errors.items() if LOCKED in error)
