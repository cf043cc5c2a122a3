"""The report: the table, results.json's summary and targets, results.md, and the README's Performance section."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import BENCH_DIR, ROOT
from bench.database import pg_conninfo
from bench.http_api import http_workers
from bench.rows import CASES, Row
from bench.sqlite import locked_errors
from bench.webhooks import BURST_S, DRAIN_TIMEOUT, LAG_TARGET_S, LOAD_FRACTION, Webhooks

README = ROOT / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
OSCAR_REQUIREMENTS = BENCH_DIR / "peers" / "oscar" / "requirements.txt"

LAYER_NAMES = {
    "ceiling": "ceiling (pgbench, SQL)",
    "service": "service (place_order + observer)",
    "http": "HTTP (gunicorn + wrk)",
    "http-nometrics": "HTTP, metrics off",
    "oscar": "peer: django-oscar",
    "plain": "peer: plain Flask port",
    "sqlite3": "SQLite: plain sqlite3",
    "service-sqlite": "SQLite: service layer",
    "sqlite-mixed-writers": "SQLite mixed: checking out",
    "sqlite-mixed-readers": "SQLite mixed: reading catalog pages",
}
LAYER_ORDER = list(LAYER_NAMES)
PEER_LAYERS = ("oscar", "plain")
SHOP_NAMES = {
    "service": "**this shop** (service layer)",
    "oscar": "django-oscar (its checkout)",
    "plain": "plain Flask port",
}
COMPARE_CLIENTS = 4  # the targets compare the shops at 4 clients
TARGET_VS_PEER = {"oscar": 5.0, "plain": 2.0}  # service hot orders/s at 4 clients, times the peer's


def pinned_version(package: str) -> str | None:
    """The version of ``package`` pinned in bench/peers/oscar/requirements.txt."""
    for line in OSCAR_REQUIREMENTS.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package.lower():
            return version.strip()
    return None


def machine() -> dict:
    """CPU, memory, kernel, PostgreSQL and its settings, library versions and the commit of this run."""
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
    """A value for the table and the log: — for None, thousands separators, ``digits`` decimals for floats."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[Row]) -> str:
    """The rows as a markdown table, by layer, case and client count."""
    rows = sorted(rows, key=lambda r: (LAYER_ORDER.index(r.layer), (*CASES, r.case).index(r.case), r.clients))
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
    """The layer's row with the most orders/s for ``case``, among those that ran."""
    ok = [r for r in rows if r.layer == layer and r.case == case and r.status == "ok" and r.tps]
    return max(ok, key=lambda r: r.tps) if ok else None


def find(rows: list[Row], layer: str, case: str, clients: int) -> Row | None:
    """The row of ``layer``, ``case`` and ``clients`` if it ran."""
    return next(
        (r for r in rows if (r.layer, r.case, r.clients) == (layer, case, clients) and r.status == "ok"), None
    )


def summarise(
    rows: list[Row],
    cost: dict,
    *,
    duration: float,
    clients: list[int],
    load_start: list[float],
    elapsed: float,
    last_units: list[Row] = (),
    last_units_stock: int | None = None,
    peer_statements: dict | None = None,
    webhooks: Webhooks | None = None,
) -> dict:
    """results.json: the run's settings and machine, best orders/s and ratios per layer, peers, cost, targets, rows.

    Also sets each row's ``ratio`` (to the ceiling, or to plain sqlite3 for the SQLite rows).
    """
    last_units = list(last_units)
    for r in rows:
        ref_layer = "sqlite3" if r.layer.endswith("sqlite") or r.layer == "sqlite3" else "ceiling"
        ref = find(rows, ref_layer, r.case, r.clients)
        if r.status == "ok" and ref and ref.tps and r.tps is not None:
            r.ratio = round(r.tps / ref.tps, 3)
    most = max(clients)
    result: dict = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": duration,
        "loadavg_start": load_start,
        "clients": clients,
        "machine": machine(),
        "wall_time_s": round(elapsed, 1),
        "http_workers_by_clients": {str(n): http_workers(n) for n in clients},
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
            r = find(rows, layer, case, most)
            result[f"{layer}_{case}_p99_ms_at_{most}"] = r.p99_ms if r else None
    # What counting costs: the hot HTTP rows with metrics on, against the same server counting nothing.
    result["http_metrics_cost_by_clients"] = {
        str(n): round(1 - on.tps / off.tps, 3)
        for n in clients
        if (on := find(rows, "http", "hot", n))
        and (off := find(rows, "http-nometrics", "hot", n))
        and on.tps
        and off.tps
    }
    b = best(rows, "http", "hot")
    result["http_metrics_cost_hot"] = (
        result["http_metrics_cost_by_clients"].get(str(b.clients)) if b else None
    )
    result["http_status"] = next(
        (r.status + (": " + r.note if r.note else "") for r in rows if r.layer == "http"), "not run"
    )
    result.update(summarise_peers(rows, last_units, clients, peer_statements or {}, cost))
    result.update(summarise_sqlite(rows))
    result["last_units_stock"] = last_units_stock
    result["webhooks"] = asdict(webhooks) if webhooks else None
    service_cost = cost.get("service", {})
    result["statements_by_lines"] = {n: c["statements"] for n, c in service_cost.items()}
    result["round_trips_by_lines"] = {n: c["round_trips"] for n, c in service_cost.items()}
    result["latency_ms_by_lines_1_client"] = {n: c["latency_ms"] for n, c in service_cost.items()}
    result["cpu_ms_by_lines_1_client"] = {n: c["cpu_ms"] for n, c in service_cost.items()}
    result["ceiling_cost"] = cost.get("ceiling", {})
    result["recording_cost_hot"] = cost.get("recording")
    result["service_sql_by_lines"] = {n: c["sql"] for n, c in service_cost.items()}
    ours = [r for r in rows + last_units if r.layer not in PEER_LAYERS]  # a peer's oversell is a finding
    result["oversold_total"] = sum(r.oversold or 0 for r in ours)
    result["all_checks_ok"] = all(r.checks_ok for r in ours if r.status == "ok")
    result["targets"] = targets(result, most)
    result["rows"] = [asdict(r) | {"key": r.key} for r in rows]
    result["last_units_rows"] = [asdict(r) | {"key": r.key} for r in last_units]
    return result


def summarise_sqlite(rows: list[Row]) -> dict:
    """SQLite's keys of results.json: the service layer against plain sqlite3, and the mixed rows."""
    service, direct = best(rows, "service-sqlite", "hot"), best(rows, "sqlite3", "hot")
    out: dict = {
        "ratio_sqlite_service_hot": round(service.tps / direct.tps, 3)
        if service and direct and service.tps and direct.tps
        else None
    }
    mixed = {}
    for who in ("writers", "readers"):
        r = next((r for r in rows if r.layer == f"sqlite-mixed-{who}" and r.status == "ok"), None)
        if r is None:
            continue
        mixed[f"{who}_tps"], mixed[f"{who}_p50_ms"], mixed[f"{who}_p99_ms"] = r.tps, r.p50_ms, r.p99_ms
        mixed[f"{who}_p99_over_p50"] = round(r.p99_ms / r.p50_ms, 2) if r.p50_ms and r.p99_ms else None
        mixed["database_is_locked"] = mixed.get("database_is_locked", 0) + locked_errors(r)
    out["sqlite_mixed"] = mixed or None
    return out


def summarise_peers(
    rows: list[Row], last_units: list[Row], clients: list[int], statements: dict, cost: dict
) -> dict:
    """The peers' keys of results.json: orders/s at 4 clients and by clients, ratios, oversold, mismatches."""
    compare = COMPARE_CLIENTS if COMPARE_CLIENTS in clients else max(clients)
    stmts = {n: c["statements"] for n, c in cost.get("service", {}).items()}
    out: dict = {
        "peers_compared_at_clients": compare,
        "peer_versions": {p: pinned_version(p) for p in ("django-oscar", "Django")},
        "service_statements": {"hot": stmts.get("1"), "spread": stmts.get("3")},
    }
    for layer in PEER_LAYERS:
        for case in CASES:
            mine, theirs = find(rows, "service", case, compare), find(rows, layer, case, compare)
            out[f"peer_{layer}_{case}_tps"] = theirs.tps if theirs else None
            out[f"peer_{layer}_{case}_p50_ms"] = theirs.p50_ms if theirs else None
            out[f"peer_{layer}_{case}_p99_ms"] = theirs.p99_ms if theirs else None
            out[f"peer_{layer}_{case}_tps_by_clients"] = {
                str(r.clients): r.tps for r in rows if (r.layer, r.case, r.status) == (layer, case, "ok")
            }
            ok = mine and theirs and mine.tps and theirs.tps
            out[f"ratio_service_vs_{layer}_{case}"] = round(mine.tps / theirs.tps, 2) if ok else None
        ran = [r for r in rows + last_units if r.layer == layer and r.status == "ok"]
        out[f"peer_{layer}_oversold"] = sum(r.oversold or 0 for r in ran) if ran else None
        out[f"peer_{layer}_ledger_mismatches"] = sum(r.ledger_mismatches or 0 for r in ran) if ran else None
        counted = statements.get(layer, {})
        out[f"peer_{layer}_statements"] = {case: c["statements"] for case, c in counted.items()} or None
        out[f"peer_{layer}_sql"] = {case: c["sql"] for case, c in counted.items()} or None
    out["last_units"] = {
        r.layer: {
            "clients": r.clients,
            "sold": r.orders,
            "oversold": r.oversold,
            "refused": sum(r.errors.values()),
            "ledger_mismatches": r.ledger_mismatches,
            "checks_ok": r.checks_ok,
            "status": r.status,
        }
        for r in last_units
    }
    return out


def targets(res: dict, most_clients: int) -> dict:
    """The issue's targets, each with its value, goal and whether it is met (None: not measured)."""
    n = most_clients
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
    v = res.get("http_metrics_cost_hot")
    target(
        "http_metrics_cost_hot",
        v,
        "< 0.05 (1 - orders/s with metrics / without, at HTTP's best)",
        v is not None and v < 0.05,
    )
    stmts = res.get("statements_by_lines") or {}
    flat = len(set(stmts.values())) == 1 and bool(stmts)
    target(
        "statements_flat_in_lines",
        stmts or None,
        f"same for {', '.join(stmts) or 'any number of'} lines",
        flat,
    )
    worst = max(stmts.values()) if stmts else None
    target("statements_per_order", worst, "<= 6", worst is not None and worst <= 6)
    v = (res.get("recording_cost_hot") or {}).get("ratio")
    target(
        "service_hot_with_events_vs_without",
        v,
        ">= 0.9 (client CPU per hot order without the events recorder / with it)",
        v is not None and v >= 0.9,
    )
    compare = res.get("peers_compared_at_clients")
    for layer, goal in TARGET_VS_PEER.items():
        v = res.get(f"ratio_service_vs_{layer}_hot")
        target(f"service_vs_{layer}_hot_at_{compare}", v, f">= {goal:g}", v is not None and v >= goal)
    v = res.get("oversold_total")
    target("service_oversold", v, "0 (every row of the shop, last units included)", v == 0)
    v = res.get("ratio_sqlite_service_hot")
    target("sqlite_service_hot_vs_sqlite3", v, ">= 0.3", v is not None and v >= 0.3)
    mixed = res.get("sqlite_mixed") or {}
    for who, goal in (("readers", 5), ("writers", 10)):
        v = mixed.get(f"{who}_p99_over_p50")
        target(f"sqlite_mixed_{who}_p99_vs_p50", v, f"<= {goal}", v is not None and v <= goal)
    v = mixed.get("database_is_locked")
    target("sqlite_mixed_database_is_locked", v, "0", v == 0)
    hooks = res.get("webhooks") or {}
    v = hooks.get("lag_p99_ms")
    v = None if v is None else round(v / 1000, 3)
    goal = f"<= {LAG_TARGET_S:g} at {hooks.get('load_vs_capacity', LOAD_FRACTION)} x the workers' capacity"
    target("webhook_lag_p99_s", v, goal, v is not None and v <= LAG_TARGET_S)
    for layer in ("service", "http"):
        for case in CASES:
            mine, ceil = res.get(f"{layer}_{case}_p99_ms_at_{n}"), res.get(f"ceiling_{case}_p99_ms_at_{n}")
            ratio = round(mine / ceil, 2) if mine and ceil else None
            target(
                f"p99_{layer}_{case}_at_{n}_vs_ceiling", ratio, "<= 3.0", ratio is not None and ratio <= 3.0
            )
    return out


def alternatives(res: dict, rows: list[Row]) -> list[str]:
    """The shop against its peers: the same orders, case by case (markdown lines; none if no peer ran)."""
    if not any(r.layer in PEER_LAYERS for r in rows):
        return []
    n = res["peers_compared_at_clients"]
    counts = " / ".join(map(str, res["clients"]))
    lines = [
        "## Against the alternatives",
        "",
        "The same orders, drawn from the same seeds, on the same PostgreSQL server, each shop in a database "
        f'of its own: orders/s at {counts} clients; latency, client CPU and "this shop is" at {n} clients. '
        f"django-oscar {res['peer_versions'].get('django-oscar')} (Django {res['peer_versions'].get('Django')}) "
        "places each order as its checkout does (basket, availability check, `OrderCreator().place_order`, "
        "`StockRecord.allocate`); the plain Flask port is the requirement's Laravel observer carried over to "
        "Flask-SQLAlchemy (`SELECT … FOR UPDATE` per line in an ORM hook). SQL statements per order without "
        'BEGIN/COMMIT. How each peer is set up, and what is and is not measured: bench/README.md, "The peers".',
        "",
        f"| shop | case | orders/s ({counts} clients) | this shop is | p50 / p99 ms | client CPU ms/order | "
        "SQL statements/order | oversold | ledger mismatches |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        for layer in ("service", *PEER_LAYERS):
            ran = [r for r in rows if (r.layer, r.case) == (layer, case)]
            if not ran:
                continue
            tps = " / ".join(
                fmt(find(rows, layer, case, c).tps if find(rows, layer, case, c) else None, 0)
                for c in res["clients"]
            )
            at = find(rows, layer, case, n)
            ratio = res.get(f"ratio_service_vs_{layer}_{case}")
            statements = (
                res["service_statements"] if layer == "service" else res.get(f"peer_{layer}_statements") or {}
            ).get(case)
            ok = [r for r in ran if r.status == "ok"]
            lines.append(
                f"| {SHOP_NAMES[layer]} | {case} | {tps} | {'—' if layer == 'service' else fmt(ratio, 1) + '×'} | "
                f"{fmt(at.p50_ms if at else None, 1)} / {fmt(at.p99_ms if at else None, 1)} | "
                f"{fmt(at.cpu_ms_per_order if at else None, 2)} | {fmt(statements, 0)} | "
                f"{fmt(sum(r.oversold or 0 for r in ok))} | {fmt(sum(r.ledger_mismatches or 0 for r in ok))} |"
            )
    return lines


def last_units_table(res: dict, last_units: list[Row]) -> list[str]:
    """Who sells more than it has: the last-units rows (markdown lines; none if they did not run)."""
    if not last_units:
        return []
    lines = [
        "## When the stock runs out",
        "",
        f"{last_units[0].clients} clients race for the last {res['last_units_stock']} units of the hot SKU: "
        "each places 1-unit orders until its first refusal. Sold: orders the clients saw succeed (1 unit each, "
        "all of them in the database). Oversold: units on orders beyond the stock.",
        "",
        "| shop | units sold | oversold | orders refused | ledger mismatches | checks |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in last_units:
        if r.status != "ok":
            lines.append(f"| {SHOP_NAMES[r.layer]} | {r.status} | | | | {r.note} |")
            continue
        checks = "ok" if r.checks_ok else "FAIL: " + "; ".join(r.check_notes)
        lines.append(
            f"| {SHOP_NAMES[r.layer]} | {fmt(r.orders)} | {fmt(r.oversold)} | {fmt(sum(r.errors.values()))} | "
            f"{fmt(r.ledger_mismatches)} | {checks} |"
        )
    return lines


def webhooks_table(res: dict) -> list[str]:
    """The webhooks row (markdown lines; none if it did not run)."""
    w = res.get("webhooks")
    if not w:
        return []
    head = [
        "## Webhooks while checking out",
        "",
        f"{w['workers']} `flask worker` processes deliver every event (`order.placed`, `stock.changed`) as a "
        "signed webhook to a receiver on 127.0.0.1 that keeps connections alive and answers 204, and each "
        "customer's confirmation e-mail as a file. **Capacity**: the workers paused, "
        f"{w['clients']} service-layer clients place {w['case']} orders at full speed for {BURST_S:g} s "
        f"(the burst, in brackets: orders, deliveries per order); then the workers alone make the deliveries "
        "of that backlog, per second until it is drained. **Paced**: the clients place orders on a fixed "
        f"schedule at the rate whose deliveries are {w['load_fraction']:g} of that capacity, for the row's "
        "duration; offered is what the orders placed then make, per second, and its ratio to the capacity. "
        "Lag: arrival at the receiver minus the event's `created_at`, set in the order's transaction just "
        "before its commit, for the webhooks of every event created in the paced window, the drain included. "
        "Backlog: deliveries of those events not made at the window's end; drain: from then to the last "
        f"delivery (at most {DRAIN_TIMEOUT:g} s). Worker CPU: both workers' CPU time after their start-up, per "
        "webhook or e-mail delivered. Duplicates: a webhook-id that arrived twice; lost: an event that never "
        "arrived or an e-mail never written (both must be 0).",
        "",
        "| clients | workers | capacity deliveries/s (burst) | paced orders/s | offered deliveries/s (× capacity) "
        "| made deliveries/s | lag p50 / p99 / max ms | backlog at stop | drain s | worker CPU ms/delivery "
        "| duplicates | lost | bad signatures | checks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    if w["status"] != "ok":
        return [*head, f"| {w['clients']} | {w['workers']} | {w['status']} |{' |' * 10} {w['note']} |"]
    checks = "ok" if w["checks_ok"] else "FAIL: " + "; ".join(w["check_notes"])
    cells = [
        w["clients"],
        w["workers"],
        f"{fmt(w['capacity_per_s'])} ({fmt(w['burst_orders'])}, {fmt(w['deliveries_per_order'], 2)})",
        fmt(w["orders_per_s"]),
        f"{fmt(w['offered_per_s'])} ({fmt(w['load_vs_capacity'], 2)})",
        fmt(w["deliveries_per_s"]),
        f"{fmt(w['lag_p50_ms'], 0)} / {fmt(w['lag_p99_ms'], 0)} / {fmt(w['lag_max_ms'], 0)}",
        fmt(w["backlog_at_stop"]),
        fmt(w["drain_s"], 2),
        fmt(w["worker_cpu_ms_per_delivery"], 2),
        fmt(w["duplicates"]),
        fmt(w["lost"]),
        fmt(w["bad_signatures"]),
        checks + (f" ({w['note']})" if w["note"] else ""),
    ]
    return [*head, "| " + " | ".join(map(str, cells)) + " |"]


def markdown(res: dict, rows: list[Row], last_units: list[Row] = ()) -> str:
    """results.md: the machine, the shop against its peers, every row, the targets and the cost per order."""
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
        *alternatives(res, rows),
        "",
        *last_units_table(res, list(last_units)),
        "",
        "## Every row",
        "",
        table(rows),
        "",
        "Clients: worker processes (service, peers), pgbench or wrk connections (ceiling, HTTP); HTTP rows run "
        f"gunicorn with {', '.join(str(n) for n in res['http_workers_by_clients'].values())} sync workers at "
        f"{', '.join(res['http_workers_by_clients'])} clients. "
        "× ceiling: orders/s divided by the ceiling's at the same case and client count "
        "(SQLite rows: by plain sqlite3's). Oversold: units sold beyond the initial stock plus negative stock "
        "(must be 0 for the shop; a peer's is reported as measured). Checks: on hand + sold = initial for "
        "every product, the ledger sums to the stock, every order has its ledger rows, and the database holds "
        "the orders the clients counted (Oscar: allocations match the order lines, stock unchanged).",
        "",
        *webhooks_table(res),
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
        rec = res.get("recording_cost_hot")
        if rec:
            lines += [
                "",
                f"Recording events (the outbox): a hot order takes {rec['cpu_ms_with']:.2f} ms of client CPU "
                f"with the recorder and {rec['cpu_ms_without']:.2f} ms without it "
                f"(**{rec['ratio']:.2f}×**; {rec['statements_with']:g} and {rec['statements_without']:g} "
                "statements), in one process that switches the recorder off and on between chunks of "
                "orders; the ratio is the median over pairs of chunks.",
            ]
        first = next(iter(res["service_sql_by_lines"].values()), [])
        lines += [
            "",
            "Statements of one service-layer order (round trips not listed here: BEGIN, COMMIT, and a "
            "ping when the pooled connection sat idle for over a second):",
            "",
        ]
        lines += [f"{i}. `{s}`" for i, s in enumerate(first, 1)]
    for layer in PEER_LAYERS:
        sql = (res.get(f"peer_{layer}_sql") or {}).get("hot")
        if sql:
            lines += [
                "",
                f"Statements of one hot order, {SHOP_NAMES[layer]} (BEGIN and COMMIT not listed):",
                "",
            ]
            lines += [f"{i}. `{s}`" for i, s in enumerate(sql, 1)]
    lines.append("")
    return "\n".join(lines)


def update_readme(md: str) -> None:
    """Put the run's table and targets (results.md up to the cost section) in the README's Performance section."""
    text = README.read_text()
    start, end = text.split(README_START)[0], text.split(README_END)[1]
    summary = (
        md.split("## Cost per order")[0].replace("# Benchmark results\n\n", "").replace("\n## ", "\n### ")
    )
    README.write_text(f"{start}{README_START}\n{summary.strip()}\n{README_END}{end}")
