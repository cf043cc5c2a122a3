"""The HTTP row: POST /api/v1/orders under gunicorn (sync workers), driven by wrk (bench/wrk_orders.lua)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import BENCH_DIR, ROOT, workers
from bench.database import count_pg_orders, pg_url
from bench.rows import Measured, Row


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The shop (app:app) under gunicorn with sync workers on a free local port, in its own session."""

    def __init__(self, workers_count: int, url: str, *, metrics: bool = True):
        self.port = free_port()
        # As in production (gunicorn.conf.py): every worker writes its counts into a directory of files.
        self.metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-")
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        # The rate limit on anonymous checkouts would refuse all but 10 orders a minute from wrk's
        # one address: it is off here, where the order path itself is measured. Each request is a
        # customer of its own, as in a shop: wrk_orders.lua sends a client address in X-Forwarded-For,
        # believed behind one trusted proxy, and an e-mail of its own, so that the held-units limit
        # (SHOP_MAX_HELD_UNITS) runs as for any customer instead of refusing wrk's one address (or
        # one e-mail) after 20 units.
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": "0",
            "SHOP_TRUSTED_PROXIES": "1",
            "SHOP_METRICS_ENABLED": "1" if metrics else "0",
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
            "SHOP_LOG_LEVEL": "INFO",  # a line per request, as the shop logs by default
        }
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
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the server answers (any status), or raise."""
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
        """Stop the server and its workers (SIGTERM, then SIGKILL) and delete its log."""
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
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def post_order(base: str, case: str, key: str) -> tuple[int, str]:
    """POST one order of ``case`` with Idempotency-Key ``key``; return the status and the start of the body."""
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


def wrk_json(
    script: str, url: str, clients: int, duration: float, *, headers: tuple[str, ...] = (), args=()
) -> dict:
    """wrk with ``clients`` connections for ``duration`` seconds; the JSON its Lua ``script`` prints."""
    cmd = ["wrk", "-t", str(min(clients, os.cpu_count() or 1)), "-c", str(clients)]
    cmd += ["-d", f"{max(1, round(duration))}s", "--timeout", "10s"]
    for header in headers:
        cmd += ["-H", header]
    cmd += ["-s", str(BENCH_DIR / script), url]
    if args:
        cmd += ["--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"wrk gave no result: {proc.stdout[-300:]} {proc.stderr[-300:]}")


def run_wrk(base: str, case: str, clients: int, duration: float, tag: str) -> dict:
    """Orders through ``POST /api/v1/orders`` (wrk_orders.lua) for ``duration`` seconds."""
    return wrk_json("wrk_orders.lua", base, clients, duration, args=(case, tag))


def http_workers(clients: int) -> int:
    """gunicorn sync workers for ``clients`` connections: one per CPU plus one, at most one per client.

    PostgreSQL and wrk share the same CPUs; more workers than that only add context switches
    (at 8 connections: 8 workers 255-303 requests/s, p99 70-92 ms; 2-3 workers 303-413, p99 30-53).
    """
    return min(clients, (os.cpu_count() or 1) + 1)


def run_http(case: str, clients: int, duration: float, tag: str, *, metrics: bool = True) -> Measured:
    """One HTTP row: a probe order, a 1 s warm-up, then wrk for ``duration`` seconds.

    ``metrics=False`` is the row ``http-nometrics``: the same server with ``SHOP_METRICS_ENABLED=0``,
    to show what counting costs.
    """
    row = Row("http" if metrics else "http-nometrics", case, clients)
    server = Gunicorn(http_workers(clients), pg_url(), metrics=metrics)
    try:
        server.wait_ready()
        status, body = post_order(server.base, case, f"probe-{tag}")
        if status != 201:
            row.status, row.note = "failed", f"probe POST answered {status}: {body[:150]}"
            return Measured(row)
        run_wrk(server.base, case, clients, 1, tag + "w")  # warm every worker up
        warm = count_pg_orders()
        result = run_wrk(server.base, case, clients, duration, tag)
    finally:
        server.stop()
    ok = result["requests"] - result["status"]
    errors = {k: result[k] for k in ("connect", "read", "write", "status", "timeout") if result[k]}
    row.errors = {f"wrk {k}": v for k, v in errors.items()}
    row.orders = ok
    row.tps = round(ok / (result["duration_us"] / 1e6), 1)
    row.p50_ms, row.p99_ms = round(result["p50_us"] / 1000, 3), round(result["p99_us"] / 1000, 3)
    # The probe and warm-up orders are in the database already; requests still running when wrk
    # stopped (at most one per connection, at both stops) may have committed without being counted.
    return Measured(row, orders_placed=warm + ok, in_flight=2 * clients)
