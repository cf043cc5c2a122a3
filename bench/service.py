"""The service row: shop.orders.place_order + commit_unit_of_work in N worker processes on PostgreSQL."""

from __future__ import annotations

import zlib

from bench import workers
from bench.database import pg_url
from bench.processes import WARMUP_ORDERS, run_workers
from bench.rows import Measured, Row


def worker_seed(layer: str, case: str, clients: int) -> int:
    """The random seed of a row's orders; worker i draws from ``seed * 100 + i``."""
    return zlib.crc32(f"{case}{clients}{layer}".encode()) & 0xFFFF


def run_service(case: str, clients: int, duration: float, warmup: int = WARMUP_ORDERS) -> Measured:
    """One service row on ``shop_bench``."""
    url, seed = pg_url(), worker_seed("service", case, clients)
    row = Row("service", case, clients)
    return run_workers(workers.service_worker, lambda i: (url, case, seed * 100 + i), duration, row, warmup)
