"""The webhooks row: clients check out on PostgreSQL while ``flask worker`` processes deliver webhooks.

4 service-layer clients place hot orders on ``shop_bench`` for the row's duration while 2
``flask --app app worker`` processes (started first, as an operator runs them beside gunicorn)
deliver every event to one endpoint subscribed to all of them: a receiver on 127.0.0.1 that
answers 204 and writes down each request's ``webhook-id`` and arrival time. Each order.placed also
gets its customer's e-mail, written as an ``.eml`` file into a temporary ``SHOP_MAIL_DIR``: the
workers do what they do in a shop. When the clients stop, the workers drain what is left (at most
``DRAIN_TIMEOUT`` seconds), then get SIGTERM.

Everything is measured after the fact, from the receiver's notes and the tables: the lag of an
event is its arrival minus its ``created_at``, which the recorder sets just before the INSERT in
the order's own transaction (the client's clock, on this machine), so it exceeds commit-to-receipt
by that transaction's last few milliseconds. The backlog at the stop is the events created by then
that had not yet arrived; the drain, how long after the stop the last delivery was made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from standardwebhooks import Webhook, WebhookVerificationError

from bench import ROOT, workers
from bench.checks import check_pg
from bench.database import pg_conninfo, pg_url, reset_pg
from bench.processes import WARMUP_ORDERS, collect, run_together
from bench.rows import Measured, Row, ms, percentile
from bench.service import worker_seed

CLIENTS, WORKERS, CASE = 4, 2, "hot"
DRAIN_TIMEOUT = 60.0  # seconds the workers get to deliver what is left once the clients stop
LAG_TARGET_S = 2.0  # p99 of commit-to-receipt while the clients check out (issue 19)
FLASK = [sys.executable, "-m", "flask", "--app", "app"]


@dataclass
class Webhooks:
    """The row's figures (a ``webhooks`` entry of results.json); lags over first arrivals only."""

    clients: int
    workers: int
    case: str
    status: str = "ok"  # ok | failed
    note: str = ""
    orders: int | None = None  # placed by the clients, warm-up included
    orders_per_s: float | None = None  # the clients', in the timed window
    events: int | None = None  # every event of the row, warm-up included
    received: int | None = None  # distinct events that arrived at the receiver
    events_per_s: float | None = None  # created in the window
    deliveries_per_s: float | None = None  # webhooks that arrived in the window
    drain_deliveries_per_s: float | None = None  # webhooks that arrived after the stop, over the drain
    mails: int | None = None  # customers' e-mails written by the workers
    lag_p50_ms: float | None = None  # webhooks that arrived in the window
    lag_p99_ms: float | None = None
    lag_all_p50_ms: float | None = None  # every webhook of the row, the drain included
    lag_all_p99_ms: float | None = None
    backlog_at_stop: int | None = None  # events created by the stop that had not arrived yet
    mail_backlog_at_stop: int | None = None  # e-mails not written yet at the stop
    drain_s: float | None = None  # from the stop to the last delivery (webhook or e-mail)
    undelivered: int | None = None  # events not fanned out and deliveries not made when the drain ended
    duplicates: int | None = None  # arrivals of an event id that had arrived already: must be 0
    lost: int | None = None  # once drained, events that never arrived and e-mails never written: must be 0
    bad_signatures: int | None = None  # arrivals whose signature standardwebhooks refused: must be 0
    retries: int | None = None  # delivery attempts beyond the first
    worker_cpu_ms_per_delivery: float | None = None  # after their start-up, per webhook or e-mail
    checks_ok: bool | None = None  # the orders' checks (bench.checks), the three zeros above, a quiet log
    check_notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() when the request's body was read
    headers: dict[str, str]
    body: str

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class Receiver:
    """An HTTP server on 127.0.0.1 (a thread per connection) that answers 204 and notes each request.

    Signatures are verified after the row (``bad_signatures``), so the receiver spends as little of
    the shared CPUs as it can while the clients run.
    """

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                arrivals.append(Arrival(time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bad_signatures(self, secret: str) -> int:
        webhook, bad = Webhook(secret), 0
        for arrival in self.arrivals:
            try:
                webhook.verify(arrival.body, arrival.headers)
            except WebhookVerificationError:
                bad += 1
        return bad


def shop_env(mail_dir: Path) -> dict[str, str]:
    """The environment of the workers and commands: the bench database, http to 127.0.0.1, mail to files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}
    return env | {
        "DATABASE_URL": pg_url(),
        "SECRET_KEY": "bench",
        "SHOP_WEBHOOKS_ALLOW_PRIVATE": "1",
        "SHOP_MAIL_DIR": str(mail_dir),
        "PYTHONUNBUFFERED": "1",  # "Worker started" reaches the log at once (start_workers waits for it)
    }


def add_endpoint(url: str, env: dict[str, str]) -> tuple[int, str]:
    """``flask webhooks add URL`` (every event type), as an operator adds one: its id and secret."""
    command = [*FLASK, "webhooks", "add", url, "--description", "bench receiver"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    found = re.search(r"endpoint (\d+) added", proc.stdout), re.search(r"(whsec_\S+)", proc.stdout)
    if proc.returncode or not all(found):
        raise RuntimeError(f"flask webhooks add failed:\n{proc.stdout}{proc.stderr}")
    return int(found[0][1]), found[1][1]


def remove_endpoint(endpoint_id: int) -> None:
    """Delete the endpoint and its deliveries, as ``flask webhooks remove`` does (without its start-up)."""
    with psycopg.connect(pg_conninfo()) as conn:
        conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


def start_workers(env: dict[str, str], logs: list[Path]) -> list[subprocess.Popen]:
    """Start one ``flask worker`` process per log file and wait until each has said it started."""
    command = [*FLASK, "worker"]
    procs = []
    for log_path in logs:
        with log_path.open("a") as out:
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120
    while not all("Worker started" in path.read_text() for path in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_workers(procs)
            raise RuntimeError(f"a worker did not start:\n{''.join(p.read_text() for p in logs)[-2000:]}")
        time.sleep(0.1)
    return procs


def cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """The CPU time (user + system) the running processes ``procs`` have used so far (Linux)."""
    total = 0
    for p in procs:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def stop_workers(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each worker (it finishes the delivery in hand) and wait; kill one that does not exit."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def undelivered() -> int:
    """Events not yet fanned out plus deliveries not yet made."""
    with psycopg.connect(pg_conninfo()) as conn:
        return conn.execute(
            "SELECT (SELECT COUNT(*) FROM events WHERE position IS NULL)"
            " + (SELECT COUNT(*) FROM event_deliveries WHERE status = 'pending')"
        ).fetchone()[0]


def wait_for_drain(timeout: float) -> int:
    """Poll until everything is delivered or ``timeout`` seconds have passed; what is left (0: drained)."""
    deadline = time.monotonic() + timeout
    while (left := undelivered()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def epoch(at: datetime) -> float:
    """A naive UTC timestamp of the shop's tables as seconds since the epoch."""
    return at.replace(tzinfo=UTC).timestamp()


def warnings(logs: list[Path]) -> list[str]:
    """The lines of the workers' logs at WARNING or worse (a failed attempt, a failed turn, a traceback)."""
    pattern = re.compile(r" (WARNING|ERROR|CRITICAL) |^Traceback")
    return [line for path in logs for line in path.read_text().splitlines() if pattern.search(line)]


@dataclass
class Load:
    """What ``load`` leaves: the clients' row, the timed window and what the workers did not deliver."""

    measured: Measured
    start: float = 0.0  # time.time() when the clients' timed window began
    stop: float = 0.0  # ... and when the clients had stopped
    undelivered: int = 0  # left DRAIN_TIMEOUT seconds after the stop (0: drained)
    worker_cpu_s: float = 0.0  # the workers' CPU time from the end of their start-up to the end of the drain


def load(clients: int, duration: float, env: dict[str, str], logs: list[Path]) -> Load:
    """Start the workers, run the clients, let the workers drain, stop them."""
    procs = start_workers(env, logs)
    try:
        started_cpu = cpu_seconds(procs)
        url, seed = pg_url(), worker_seed("webhooks", CASE, clients)
        jobs = [(workers.service_worker, (url, CASE, seed * 100 + i)) for i in range(clients)]
        reports = run_together(jobs, duration, WARMUP_ORDERS)
        stop = time.time()
        done = Load(collect(Row("webhooks", CASE, clients), reports, WARMUP_ORDERS))
        if done.measured.row.status == "ok":
            done.start, done.stop = stop - max(r["elapsed"] for r in reports), stop
            done.undelivered = wait_for_drain(DRAIN_TIMEOUT)
            done.worker_cpu_s = cpu_seconds(procs) - started_cpu
    finally:
        stop_workers(procs)
    return done


def measure(result: Webhooks, arrivals: list[Arrival], start: float, stop: float) -> None:
    """Fill ``result`` from the receiver's arrivals and the outbox's tables, after the drain."""
    with psycopg.connect(pg_conninfo()) as conn:
        created = {i: epoch(at) for i, at in conn.execute("SELECT id, created_at FROM events")}
        deliveries = conn.execute(
            "SELECT email IS NOT NULL, status, attempts, delivered_at FROM event_deliveries"
        ).fetchall()
    first: dict[str, float] = {}
    for arrival in sorted(arrivals, key=lambda a: a.at):
        first.setdefault(arrival.webhook_id, arrival.at)
    window = stop - start
    lags = {i: at - created[i] for i, at in first.items() if i in created}
    in_window = [lag for i, lag in lags.items() if start <= first[i] <= stop]
    mails = [(status, delivered_at) for is_mail, status, _, delivered_at in deliveries if is_mail]
    done = [epoch(at) for *_, at in deliveries if at is not None] + list(first.values())
    result.events, result.received = len(created), len(first)
    result.events_per_s = round(sum(start <= at <= stop for at in created.values()) / window, 1)
    result.deliveries_per_s = round(len(in_window) / window, 1)
    result.lag_p50_ms, result.lag_p99_ms = ms(percentile(in_window, 50)), ms(percentile(in_window, 99))
    result.lag_all_p50_ms = ms(percentile(list(lags.values()), 50))
    result.lag_all_p99_ms = ms(percentile(list(lags.values()), 99))
    result.backlog_at_stop = sum(at <= stop and first.get(i, stop + 1) > stop for i, at in created.items())
    result.mail_backlog_at_stop = sum(at is None or epoch(at) > stop for _, at in mails)
    result.mails = sum(status == "delivered" for status, _ in mails)
    result.drain_s = round(max(0.0, max(done, default=stop) - stop), 2)
    after = sum(at > stop for at in first.values())
    result.drain_deliveries_per_s = round(after / result.drain_s, 1) if after and result.drain_s else None
    result.duplicates = len(arrivals) - len(first)
    missing = len(created.keys() - first.keys()) + sum(status != "delivered" for status, _ in mails)
    result.lost = missing if not result.undelivered else None  # still pending is not lost
    result.retries = sum(attempts - 1 for _, _, attempts, _ in deliveries if attempts > 1)


def run_webhooks(duration: float, clients: int = CLIENTS, worker_count: int = WORKERS) -> Webhooks:
    """The row on a freshly reset ``shop_bench`` (no events, no endpoints); the endpoint is removed after it."""
    result = Webhooks(clients, worker_count, CASE)
    reset_pg()
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory(prefix="shop-bench-webhooks-") as tmp:
            env = shop_env(Path(tmp) / "mail")
            logs = [Path(tmp) / f"worker-{i}.log" for i in range(worker_count)]
            endpoint_id, secret = add_endpoint(receiver.url, env)
            try:
                done = load(clients, duration, env, logs)
                if done.measured.row.status == "ok":
                    result.undelivered = done.undelivered
                    measure(result, receiver.arrivals, done.start, done.stop)
            finally:
                remove_endpoint(endpoint_id)
            logged = warnings(logs)
    finally:
        receiver.stop()
    row = done.measured.row
    if row.status != "ok":
        result.status, result.note = row.status, row.note
        return result
    check_pg(row, done.measured.orders_placed)
    result.orders, result.orders_per_s = done.measured.orders_placed, row.tps
    delivered = (result.received or 0) + (result.mails or 0)
    result.worker_cpu_ms_per_delivery = round(done.worker_cpu_s / delivered * 1000, 2) if delivered else None
    result.bad_signatures = receiver.bad_signatures(secret)
    if result.undelivered:  # slow, not wrong: reported, and the run does not fail for it
        result.note = f"{result.undelivered} still undelivered {DRAIN_TIMEOUT:g} s after the stop"
    notes = list(row.check_notes)
    if logged:
        notes.append(f"{len(logged)} warnings in the workers' log, the first: {logged[0][:200]}")
    result.check_notes = notes
    result.checks_ok = bool(row.checks_ok) and not (
        logged or result.duplicates or result.lost or result.bad_signatures
    )
    return result
