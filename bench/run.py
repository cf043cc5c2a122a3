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
           wrk (N connections); the hot rows again with SHOP_METRICS_ENABLED=0 (what the metrics cost)
  peers    the same orders placed by django-oscar's checkout (database shop_bench_oscar, processes of
           .venv-oscar) and by a plain Flask port of the requirement (shop_bench_plain), in N
           processes; then the last-units rows: the service layer and both peers, with the most
           clients, racing for the last LAST_UNITS_STOCK units of the hot SKU
           and the 3-location spread row: the service layer's spread orders with the spread SKUs kept
           at three locations (one each), so that most orders are allocated line by line
  webhooks 2 `flask worker` processes deliver every event as a webhook to a receiver on 127.0.0.1: their
           capacity on a burst's backlog, then commit-to-receipt lag with 4 clients paced at half of it
  cost     SQL statements and round trips per order of 1, 3, 10 and 100 lines; a hot order's client CPU
           with the events recorder and without it, switched in one process (issue 19's A/B)
  sqlite   the service layer on SQLite against the same transaction in plain sqlite3

Writes bench/results.json and bench/results.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import BENCH_DIR
from bench.ceiling import run_ceiling
from bench.checks import check_pg
from bench.cost import measure_cost
from bench.database import (
    HOT_STOCK,
    PG_DB,
    place_spread_stock,
    remove_sqlite_files,
    reset_pg,
    setup_pg,
    setup_sqlite,
)
from bench.http_api import run_http
from bench.peers.oscar.row import run_oscar, setup_oscar
from bench.peers.plain_flask.row import run_plain, setup_plain
from bench.report import PEER_LAYERS, fmt, markdown, summarise, update_readme
from bench.rows import CASES, Measured, Row, log
from bench.service import run_service
from bench.sqlite import SQLITE_LAYERS, run_mixed, run_sqlite
from bench.webhooks import CASE, CLIENTS, WORKERS, Webhooks, run_webhooks
from bench.workers import LAST_UNITS, N_SPREAD, SPREAD_PLACES

SECTIONS = ("ceiling", "service", "http", "peers", "webhooks", "cost", "sqlite")
README_SECTIONS = {"ceiling", "service", "http", "peers"}  # a run without these keeps the README's tables
LAST_UNITS_STOCK = 100  # the hot SKU's stock in the last-units rows
PEER_SETUP = {"oscar": setup_oscar, "plain": setup_plain}


@dataclass
class Options:
    """The command line, parsed."""

    duration: float
    clients: list[int]
    sqlite_clients: list[int]
    sections: set[str]
    out: Path


def parse_options(argv) -> Options:
    """Parse ``argv`` (default: sys.argv); ``--duration`` defaults to $BENCH_DURATION, else 8 s."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 8)))
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--sqlite-clients", default="1,4")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--out", default=str(BENCH_DIR))
    args = parser.parse_args(argv)
    return Options(
        duration=args.duration,
        clients=[int(c) for c in args.clients.split(",")],
        sqlite_clients=[int(c) for c in args.sqlite_clients.split(",")],
        sections=set(args.only.split(",")),
        out=Path(args.out),
    )


def log_row(row: Row, layer_width: int = 8) -> None:
    """Log a finished row: orders/s, latencies, oversold units and the checks."""
    log(
        f"{row.layer:{layer_width}} {row.case:6} clients={row.clients}: {row.status} {fmt(row.tps)} orders/s "
        f"p50={fmt(row.p50_ms, 2)} p99={fmt(row.p99_ms, 2)} oversold={row.oversold} "
        f"checks={'ok' if row.checks_ok else row.check_notes} {row.errors or ''} {row.note}"
    )


def failed_row(layer: str, case: str, clients: int, exc: Exception) -> Row:
    """The row of a runner that raised."""
    return Row(layer, case, clients, status="failed", note=f"{type(exc).__name__}: {exc}"[:200])


def measure_on_postgresql(
    layer: str,
    case: str,
    clients: int,
    runner: Callable[[str, int], Measured],
    hot_stock: int = HOT_STOCK,
) -> Row:
    """Reset ``shop_bench``, run one row, check the database after it and log it."""
    reset_pg(hot_stock=hot_stock)
    try:
        measured = runner(case, clients)
    except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
        measured = Measured(failed_row(layer, case, clients, exc))
    row = measured.row
    if row.status == "ok":
        check_pg(row, measured.orders_placed, measured.in_flight, hot_stock=hot_stock)
    log_row(row)
    return row


def measure_peer(layer: str, case: str, clients: int, runner: Callable[[str, int], Row]) -> Row:
    """Run one peer row (its runner resets and checks the peer's own database) and log it."""
    try:
        row = runner(case, clients)
    except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
        row = failed_row(layer, case, clients, exc)
    log_row(row)
    return row


def setup_peers(options: Options) -> dict:
    """Build each peer's database; its SQL statements per order by case. A peer that fails is left out."""
    if "peers" not in options.sections:
        return {}
    statements = {}
    for layer in PEER_LAYERS:
        log(f"setting up the peer {layer!r}: its own database and the same catalogue")
        try:
            statements[layer] = PEER_SETUP[layer]()
        except Exception as exc:  # noqa: BLE001 - the other rows still run
            log(f"peer {layer!r} left out: {type(exc).__name__}: {exc} (run bash bench/install-tools.sh)")
    return statements


def run_postgresql_rows(options: Options, tag: str, peers: list[str]) -> list[Row]:
    """The ceiling, service, HTTP and peer rows, in the order of CASES, client counts, then layers.

    Rows of the same case and client count run back to back, so that each ratio compares
    measurements taken under the same conditions.
    """
    runners = {
        "ceiling": lambda case, n: run_ceiling(case, n, options.duration, f"{tag}{case[0]}{n}"),
        "service": lambda case, n: run_service(case, n, options.duration),
        "http": lambda case, n: run_http(case, n, options.duration, f"{tag}{case[0]}{n}"),
        # Right after its http row: the same server counting nothing (SHOP_METRICS_ENABLED=0).
        "http-nometrics": lambda case, n: run_http(
            case, n, options.duration, f"{tag}{case[0]}{n}m", metrics=False
        ),
    }
    peer_runners = {
        "oscar": lambda case, n: run_oscar(case, n, options.duration),
        "plain": lambda case, n: run_plain(case, n, options.duration),
    }
    layers = [layer for layer in runners if layer.split("-")[0] in options.sections]
    rows = []
    for case in CASES:
        for n in options.clients:
            for layer in layers:
                if layer == "http-nometrics" and case != "hot":
                    continue
                rows.append(measure_on_postgresql(layer, case, n, runners[layer]))
            for layer in peers:
                rows.append(measure_peer(layer, case, n, peer_runners[layer]))
    return rows


def run_locations_rows(options: Options) -> list[Row]:
    """The service layer, the most clients, on spread orders whose SKUs are kept at three locations.

    The other rows keep all stock at main (one location: the shop's common case); this one shows what
    allocating across locations costs. Everything is at main again afterwards.
    """
    n = max(options.clients)
    log(f"3 locations: spread orders, {n} clients, each spread SKU kept at one of main, floor and back")
    place_spread_stock(3)
    try:
        return [
            measure_on_postgresql(
                "service", SPREAD_PLACES, n, lambda case, k: run_service(case, k, options.duration)
            )
        ]
    finally:
        place_spread_stock(1)


def run_last_units_rows(options: Options, peers: list[str]) -> list[Row]:
    """The service layer and the peers, the most clients each, racing for the last units of the hot SKU.

    No warm-up (it would take stock); each client stops at its first refused order.
    """
    n, cap, stock = max(options.clients), max(30.0, 4 * options.duration), LAST_UNITS_STOCK
    log(f"last units: {n} clients race for the last {stock} units of the hot SKU")
    rows = [
        measure_on_postgresql(
            "service", LAST_UNITS, n, lambda case, k: run_service(case, k, cap, warmup=0), hot_stock=stock
        )
    ]
    runners = {
        "oscar": lambda case, k: run_oscar(case, k, cap, warmup=0, hot_stock=stock),
        "plain": lambda case, k: run_plain(case, k, cap, warmup=0, hot_stock=stock),
    }
    rows += [measure_peer(layer, LAST_UNITS, n, runners[layer]) for layer in peers]
    return rows


def run_webhooks_row(options: Options) -> Webhooks:
    """The webhooks row, logged; a runner that raises gives a failed row."""
    log(f"webhooks: {CLIENTS} clients checking out while {WORKERS} workers deliver to a local receiver")
    try:
        w = run_webhooks(options.duration)
    except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
        w = Webhooks(CLIENTS, WORKERS, CASE, status="failed", note=f"{type(exc).__name__}: {exc}"[:200])
    log(
        f"webhooks: {w.status} capacity {fmt(w.capacity_per_s)} deliveries/s on the backlog of a burst of"
        f" {fmt(w.burst_orders)} orders ({fmt(w.deliveries_per_order, 2)} deliveries each); paced at"
        f" {fmt(w.paced_orders_per_s)} orders/s ({w.load_fraction:g} x capacity): {fmt(w.orders_per_s)} orders/s"
        f" placed, {fmt(w.offered_per_s)} deliveries/s offered ({fmt(w.load_vs_capacity, 2)} x capacity),"
        f" {fmt(w.deliveries_per_s)} made; lag p50/p99/max {fmt(w.lag_p50_ms, 0)}/{fmt(w.lag_p99_ms, 0)}/"
        f"{fmt(w.lag_max_ms, 0)} ms; backlog at stop {fmt(w.backlog_at_stop)}, drained in {fmt(w.drain_s, 2)} s;"
        f" worker CPU {fmt(w.worker_cpu_ms_per_delivery, 2)} ms/delivery; duplicates={fmt(w.duplicates)}"
        f" lost={fmt(w.lost)} bad signatures={fmt(w.bad_signatures)}"
        f" checks={'ok' if w.checks_ok else w.check_notes} {w.note}"
    )
    return w


def run_sqlite_rows(options: Options) -> list[Row]:
    """The plain sqlite3 and service-layer rows on SQLite, each on a fresh copy of one seeded file,
    then writers and readers at once (the mixed rows)."""
    pristine = setup_sqlite()
    rows = []
    for case in CASES:
        for n in options.sqlite_clients:
            for layer in SQLITE_LAYERS:
                row = run_sqlite(layer, case, n, options.duration, pristine)
                log_row(row, layer_width=14)
                rows.append(row)
    for row in run_mixed(options.duration, pristine):
        log_row(row, layer_width=14)
        rows.append(row)
    remove_sqlite_files()
    return rows


def write_results(result: dict, md: str, options: Options) -> None:
    """Write results.json and results.md; a full run into bench/ also refreshes the README's table."""
    (options.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (options.out / "results.md").write_text(md)
    if options.out.resolve() == BENCH_DIR.resolve() and options.sections >= README_SECTIONS:
        update_readme(md)


def main(argv=None) -> int:
    """Run the sections, write and print the results; 1 if any row oversold or failed its checks."""
    options = parse_options(argv)
    started = time.monotonic()
    load_start = [round(x, 2) for x in os.getloadavg()]
    if load_start[0] > 0.5 * (os.cpu_count() or 1):
        log(f"warning: load average {load_start} before the run: other work on this machine skews the rows")
    tag = time.strftime("%H%M%S")  # makes pgbench order numbers and idempotency keys unique to this run

    log(f"setting up {PG_DB}: migrations + catalogue of {N_SPREAD + 1} products")
    setup_pg()
    peer_statements = setup_peers(options)
    peers = list(peer_statements)
    rows = run_postgresql_rows(options, tag, peers)
    if "service" in options.sections:
        rows += run_locations_rows(options)
    webhooks = run_webhooks_row(options) if "webhooks" in options.sections else None
    last_units = run_last_units_rows(options, peers) if "peers" in options.sections else []
    cost = measure_cost() if "cost" in options.sections else {}
    if "sqlite" in options.sections:
        rows += run_sqlite_rows(options)

    result = summarise(
        rows,
        cost,
        duration=options.duration,
        clients=options.clients,
        load_start=load_start,
        elapsed=time.monotonic() - started,
        last_units=last_units,
        last_units_stock=LAST_UNITS_STOCK,
        peer_statements=peer_statements,
        webhooks=webhooks,
    )
    md = markdown(result, rows, last_units)
    write_results(result, md, options)
    print()
    print(md)
    # A peer that oversells is a finding, reported in the tables; only the shop's own rows fail the run.
    failed = [
        r.key
        for r in rows + last_units
        if r.layer not in PEER_LAYERS and r.status == "ok" and not r.checks_ok
    ]
    if webhooks is not None and webhooks.status == "ok" and not webhooks.checks_ok:
        failed.append("webhooks")
    if failed or result["oversold_total"]:
        log(f"OVERSELL/CONSISTENCY CHECK FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
