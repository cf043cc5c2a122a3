"""Process plumbing: N worker processes (bench/workers.py) through one timed window, and one-off forked children.

The workers are forked (``run_workers``) or, for a peer that lives in another virtualenv, started
as commands that speak bench.workers' report lines on stdin/stdout (``run_commands``); both fill
the row from the same reports.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import tempfile
import threading
import traceback
from collections.abc import Callable

from bench.rows import Measured, Row, log, ms, percentile
from bench.workers import PROTOCOL

WARMUP_ORDERS = 10  # per worker process, before the timed window


def run_workers(
    target: Callable,
    args_for: Callable[[int], tuple],
    duration: float,
    row: Row,
    warmup: int = WARMUP_ORDERS,
) -> Measured:
    """Run ``row.clients`` processes of ``target(*args_for(i), ...)`` together and fill ``row`` from their reports."""
    jobs = [(target, args_for(i)) for i in range(row.clients)]
    return collect(row, run_together(jobs, duration, warmup), warmup)


def run_together(jobs: list[tuple[Callable, tuple]], duration: float, warmup: int) -> list[dict]:
    """Fork one process per ``(target, args)`` job, start their timed windows at once; their reports, in order."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(jobs) + 1)
    queues = [ctx.Queue() for _ in jobs]
    procs = [
        ctx.Process(target=target, args=(*args, duration, warmup, barrier, queue), daemon=True)
        for (target, args), queue in zip(jobs, queues, strict=True)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=180)
    except threading.BrokenBarrierError:
        pass
    results = []
    for queue in queues:
        try:
            results.append(queue.get(timeout=duration + 180))
        except Exception:  # noqa: BLE001
            results.append({"failed": "worker did not report"})
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return results


def run_commands(commands: list[list[str]], duration: float, row: Row, warmup: int, **popen) -> Measured:
    """Run one worker command per client together and fill ``row`` from their reports.

    Each command places ``warmup`` orders, reports ready, waits for ``go`` on stdin, runs its
    timed window and reports (bench.workers.StdinBarrier and StdoutQueue). ``popen``: cwd, env.
    """
    with tempfile.TemporaryFile("w+") as stderr:
        procs = [
            subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, **popen
            )
            for cmd in commands
        ]
        watchdog = threading.Timer(duration + 240, lambda: [p.kill() for p in procs])
        watchdog.start()

        def next_report(proc) -> dict:
            for line in proc.stdout:
                if line.startswith(PROTOCOL):
                    return json.loads(line[len(PROTOCOL) :])
            stderr.seek(0)
            return {"failed": f"worker exited with {proc.wait()}:\n{stderr.read()[-2000:]}"}

        try:
            results = [next_report(p) for p in procs]
            failed = any("failed" in r for r in results)
            for p in procs:
                try:
                    p.stdin.write("abort\n" if failed else "go\n")
                    p.stdin.close()
                except OSError:
                    pass
            if not failed:
                results = [next_report(p) for p in procs]
        finally:
            watchdog.cancel()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                p.stdout.close()
    return collect(row, results, warmup)


def collect(row: Row, results: list[dict], warmup: int) -> Measured:
    """Fill ``row`` from the workers' reports: orders/s, latency percentiles, CPU per order, errors."""
    clients = row.clients
    failures = [r["failed"] for r in results if "failed" in r]
    if failures:
        row.status = "failed"
        row.note = failures[0].strip().splitlines()[-1][:200]
        log("worker failure:\n" + failures[0])
        return Measured(row)
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
    return Measured(row, orders_placed=row.orders + warmup * clients)


def run_in_child(fn, *args):
    """Run ``fn(*args)`` in a forked process and return its (picklable) result."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def target():
        try:
            queue.put(("ok", fn(*args)))
        except BaseException as exc:  # noqa: BLE001
            queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))

    proc = ctx.Process(target=target, daemon=True)
    proc.start()
    status, value = queue.get(timeout=600)
    proc.join(timeout=30)
    if status != "ok":
        raise RuntimeError(value)
    return value
