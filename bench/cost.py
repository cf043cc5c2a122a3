"""The cost section: SQL statements, round trips, latency and CPU per order, counted through a wire proxy."""

from __future__ import annotations

import random
import re
import statistics
import subprocess
import time
from contextlib import contextmanager, nullcontext

from bench import BENCH_DIR
from bench.ceiling import pgbench_cmd
from bench.database import PG_DB, PG_HOST, PG_PORT, pg_url, reset_pg
from bench.processes import run_in_child
from bench.rows import CASES, log
from bench.wirecount import TurnCounter
from bench.workers import HOT_SKU, place_service_order, spread_sku


def measure_service_cost(line_counts: tuple[int, ...], repeat: int) -> dict:
    """Statements (cursor executions) and round trips per order, through the counting proxy."""
    from sqlalchemy import event

    from shop import create_app
    from shop.extensions import db

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
        for n in line_counts:
            lines = [(spread_sku(pid), 1) for pid in range(1, n + 1)]
            for _ in range(6):  # warm caches and psycopg's prepared statements
                place_service_order(lines)
            s0, t0, c0, cpu0 = len(statements), proxy.snapshot(), time.perf_counter(), time.process_time()
            for _ in range(repeat):
                place_service_order(lines)
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


@contextmanager
def recorder_off(app):
    """The shop as if ``shop.outbox.init_app`` had not connected the events recorder (same code, no events)."""
    from sqlalchemy import event

    from shop import signals
    from shop.extensions import db
    from shop.outbox import recorder

    receivers = app.extensions[recorder.RECORDER]
    signals.order_created.disconnect(receivers.order_created)
    signals.order_status_changed.disconnect(receivers.order_status_changed)
    event.remove(db.session, "before_commit", recorder.record)
    try:
        yield
    finally:
        receivers.connect(app)
        event.listen(db.session, "before_commit", recorder.record)


def measure_recording_cost(pairs: int, per_chunk: int) -> dict:
    """Client CPU per hot order with the events recorder and without it (issue 19: at least 0.9x).

    One process places chunks of ``per_chunk`` hot orders, the recorder on and off in turn (in a random
    order within each pair of chunks), so that the host's drift cancels: ``ratio`` is the median over
    the pairs of the CPU without the recorder over the CPU with it. Statements per order are counted
    in both, to show the recorder was off (one statement fewer).
    """
    from sqlalchemy import event

    from shop import create_app
    from shop.extensions import db

    app = create_app({"DATABASE_URL": pg_url(), "SECRET_KEY": "bench"})
    rng = random.Random(1)
    cpu: dict[bool, list[float]] = {True: [], False: []}
    statements: dict[bool, int] = {True: 0, False: 0}
    with app.app_context():
        sent: list[str] = []
        event.listen(
            db.engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: sent.append(statement)
        )
        for _ in range(50):  # warm caches and psycopg's prepared statements
            place_service_order([(HOT_SKU, 1)])

        def chunk(recording: bool) -> None:
            with nullcontext() if recording else recorder_off(app):
                s0, c0 = len(sent), time.process_time()
                for _ in range(per_chunk):
                    place_service_order([(HOT_SKU, 1)])
                cpu[recording].append((time.process_time() - c0) / per_chunk * 1000)
                statements[recording] += len(sent) - s0

        for _ in range(pairs):
            for recording in rng.sample([True, False], 2):
                chunk(recording)
        db.session.remove()
        db.engine.dispose()
    orders = pairs * per_chunk
    return {
        "cpu_ms_with": round(statistics.median(cpu[True]), 3),
        "cpu_ms_without": round(statistics.median(cpu[False]), 3),
        "ratio": round(statistics.median(off / on for on, off in zip(cpu[True], cpu[False], strict=True)), 3),
        "statements_with": statements[True] / orders,
        "statements_without": statements[False] / orders,
    }


def measure_ceiling_cost() -> dict:
    """Round trips per pgbench transaction (1-line hot and 3-line spread), through the proxy."""
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
        sql = (BENCH_DIR / f"ceiling_{case}.sql").read_text()
        body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith(("--", "\\")))
        stmts = [s.strip() for s in body.split(";") if s.strip()]
        out[case] = {
            "round_trips": (counts[1] - counts[0]) / 20,
            "statements": sum(1 for s in stmts if s.upper() not in ("BEGIN", "COMMIT")),
        }
    proxy.close()
    return out


def measure_cost() -> dict:
    """The cost section on a freshly reset ``shop_bench``: ``{"service": by line count, "ceiling": by case}``."""
    reset_pg()
    log("measuring statements and round trips per order")
    cost = {
        "service": run_in_child(measure_service_cost, (1, 3, 10, 100), 20),
        "ceiling": run_in_child(measure_ceiling_cost),
        "recording": run_in_child(measure_recording_cost, 40, 40),
    }
    for n, c in cost["service"].items():
        log(
            f"cost {n:>3} lines: {c['statements']:g} statements, {c['round_trips']:g} round trips, "
            f"{c['latency_ms']:.2f} ms, {c['cpu_ms']:.2f} ms CPU"
        )
    r = cost["recording"]
    log(
        f"cost of recording events, hot order: {r['cpu_ms_with']:.2f} ms CPU with the recorder, "
        f"{r['cpu_ms_without']:.2f} ms without ({r['ratio']:.2f}x; statements {r['statements_with']:g} "
        f"and {r['statements_without']:g})"
    )
    return cost
