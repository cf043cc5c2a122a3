"""The SQLite rows: the service layer on SQLite against the same transaction in plain sqlite3."""

from __future__ import annotations

from pathlib import Path

from bench import workers
from bench.checks import check_sqlite
from bench.database import reset_sqlite
from bench.processes import run_workers
from bench.rows import Row
from bench.service import worker_seed

SQLITE_LAYERS = ("sqlite3", "service-sqlite")


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
