"""The ceiling row: pgbench running the minimal SQL transaction of an order (bench/ceiling_*.sql)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bench import BENCH_DIR
from bench.database import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_conninfo
from bench.rows import Measured, Row, ms, percentile
from bench.workers import HOT_ID


def pgbench_binary() -> str:
    """The pgbench of the server's major version if installed, else the one on PATH."""
    with psycopg.connect(pg_conninfo("postgres")) as conn:
        major = conn.info.server_version // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/pgbench")
    return str(candidate) if candidate.exists() else (shutil.which("pgbench") or "pgbench")


def pgbench_cmd(case: str, clients: int, tag: str, port: int = PG_PORT) -> list[str]:
    """pgbench running ceiling_<case>.sql with ``clients`` connections; append -T/-t and the database."""
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
        str(BENCH_DIR / f"ceiling_{case}.sql"),
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


def run_ceiling(case: str, clients: int, duration: float, tag: str) -> Measured:
    """One ceiling row: pgbench for ``duration`` seconds, latencies from its per-transaction log."""
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
    return Measured(row, orders_placed=row.orders)
