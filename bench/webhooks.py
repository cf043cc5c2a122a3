"""The webhooks row: what 2 ``flask worker`` processes deliver, and how late, while clients check out.

2 ``flask --app app worker`` processes (started first, as an operator runs them beside gunicorn)
deliver every event to one endpoint subscribed to all of them: a receiver on 127.0.0.1 that keeps
connections alive, answers 204 and writes down each request's ``webhook-id`` and arrival time.
Each order.placed also gets its customer's e-mail, written as an ``.eml`` file into a temporary
``SHOP_MAIL_DIR``: the workers do what they do in a shop. The row has two parts:

1. **Capacity.** The workers are paused (SIGSTOP) while 4 service-layer clients place hot orders
   at full speed for ``BURST_S`` seconds, then let go (SIGCONT) on that backlog: their capacity is
   the deliveries (webhooks and e-mails) they make per second until it is drained. Clients at full
   speed always outrun them (an order takes a client ~2 ms and makes 3 deliveries), so a lag
   measured under them only grows with the backlog.
2. **Lag while the workers keep up.** The 4 clients are paced, on a fixed schedule, at the order
   rate whose deliveries are ``LOAD_FRACTION`` of that capacity, for the row's duration; then the
   workers drain what is left (at most ``DRAIN_TIMEOUT`` seconds) and get SIGTERM.

Everything is measured after the fact, from the receiver's notes and the tables: a delivery is
made when its webhook first arrives, or when its e-mail is written (``delivered_at``). The lag of
an event is its arrival minus its ``created_at``, which the recorder sets just before the INSERT
in the order's own transaction (the client's clock, on this machine), so it exceeds
commit-to-receipt by that transaction's last few milliseconds.
"""

from __future__ import annotations

import os
import re
import signal
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
BURST_S = 2.0  # seconds of orders at full speed with the workers paused: the backlog they are timed on
LOAD_FRACTION = 0.5  # the paced clients' deliveries, as a fraction of the workers' capacity (alone)
PACED_WARMUP = 1  # orders per paced client before its window (its connection and first statements)
DRAIN_TIMEOUT = 30.0  # seconds the workers get to deliver a backlog (the burst's, then what the window left)
LAG_TARGET_S = 2.0  # p99 of commit-to-receipt while the workers keep up (issue 19)
FLASK = [sys.executable, "-m", "flask", "--app", "app"]


@dataclass
class Webhooks:
    """The row's figures (a ``webhooks`` entry of results.json); lags over first arrivals only."""

    clients: int
    workers: int
    case: str
    status: str = "ok"  # ok | failed
    note: str = ""
    # 1. capacity: the burst's backlog, drained by the workers alone
    burst_orders: int | None = None  # placed at full speed while the workers were paused, warm-up included
    deliveries_per_order: float | None = None  # of the burst: 2 webhooks and 1 e-mail per hot order
    capacity_per_s: float | None = None  # deliveries (webhooks and e-mails) made per second on that backlog
    # 2. the paced window
    load_fraction: float = LOAD_FRACTION  # what the clients were paced at, as a fraction of the capacity
    paced_orders_per_s: float | None = None  # the order rate that makes it (all clients together)
    orders_per_s: float | None = None  # placed in the window
    offered_per_s: float | None = None  # deliveries/s those orders make: x deliveries_per_order
    load_vs_capacity: float | None = None  # offered_per_s / capacity_per_s
    deliveries_per_s: float | None = None  # deliveries made in the window
    lag_p50_ms: float | None = None  # webhooks of the events created in the window, drain included
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None
    backlog_at_stop: int | None = None  # deliveries not made by the end of the window
    drain_s: float | None = None  # from the end of the window to the last delivery
    # the whole row
    orders: int | None = None  # placed by the clients, warm-ups included
    events: int | None = None
    received: int | None = None  # distinct events that arrived at the receiver
    mails: int | None = None  # customers' e-mails written by the workers
    undelivered: int | None = None  # events not fanned out and deliveries not made when the last drain ended
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
    """An HTTP/1.1 server on 127.0.0.1 (a thread per connection) that answers 204 and notes each request.

    Signatures are verified after the row (``bad_signatures``), so the receiver spends as little of
    the shared CPUs as it can while the clients run.
    """

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections alive, as receivers on the internet do

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


def signal_workers(procs: list[subprocess.Popen], signum: int) -> None:
    for p in procs:
        p.send_signal(signum)


def stop_workers(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each worker (it finishes the delivery in hand) and wait; kill one that does not exit."""
    signal_workers(procs, signal.SIGCONT)  # a paused worker would not see its SIGTERM
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


@dataclass(frozen=True)
class Made:
    """One delivery: when its event was created and when it was made (None: not yet)."""

    created: float
    at: float | None
    mail: bool


def deliveries_made(arrivals: list[Arrival]) -> list[Made]:
    """Every delivery of the row so far: a webhook made at its first arrival, an e-mail when written."""
    with psycopg.connect(pg_conninfo()) as conn:
        created = {i: epoch(at) for i, at in conn.execute("SELECT id, created_at FROM events")}
        mails = conn.execute(
            "SELECT e.created_at, d.delivered_at FROM event_deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.email IS NOT NULL"
        ).fetchall()
    first: dict[str, float] = {}
    for arrival in sorted(arrivals, key=lambda a: a.at):
        first.setdefault(arrival.webhook_id, arrival.at)
    made = [Made(at, first.get(i), False) for i, at in created.items()]
    return made + [Made(epoch(c), epoch(d) if d else None, True) for c, d in mails]


@dataclass
class Load:
    """What ``load`` leaves: the clients' two rows, the pacing, and the moments the figures are cut at."""

    burst: Measured
    paced: Measured | None = None
    resumed: float = 0.0  # time.time() when the paused workers were let go on the burst's backlog
    capacity_per_s: float = 0.0
    deliveries_per_order: float = 0.0
    rate: float = 0.0  # orders per second the paced clients were given, all together
    start: float = 0.0  # time.time() when the paced window began
    stop: float = 0.0  # ... and when the paced clients had stopped
    undelivered: int = 0  # left DRAIN_TIMEOUT seconds after a stop (0: drained)
    worker_cpu_s: float = 0.0  # the workers' CPU time from the end of their start-up to the end of the drain

    @property
    def failed(self) -> Row | None:
        """The clients' row that failed, if one did."""
        return next((m.row for m in (self.burst, self.paced) if m and m.row.status != "ok"), None)


def capacity(made: list[Made], since: float) -> float:
    """Deliveries made per second from ``since`` to the last one."""
    times = [m.at for m in made if m.at is not None and m.at > since]
    return len(times) / (max(times) - since) if times else 0.0


def load(clients: int, duration: float, env: dict[str, str], logs: list[Path], receiver: Receiver) -> Load:
    """Start the workers; the burst with them paused, then their drain (the capacity); the paced window
    and its drain; stop them."""
    procs = start_workers(env, logs)
    try:
        started_cpu = cpu_seconds(procs)
        url, seed = pg_url(), worker_seed("webhooks", CASE, clients)
        signal_workers(procs, signal.SIGSTOP)
        jobs = [(workers.service_worker, (url, CASE, seed * 100 + i)) for i in range(clients)]
        reports = run_together(jobs, BURST_S, WARMUP_ORDERS)
        done = Load(collect(Row("webhooks", CASE, clients), reports, WARMUP_ORDERS))
        done.resumed = time.time()
        signal_workers(procs, signal.SIGCONT)
        if done.failed:
            return done
        done.undelivered = wait_for_drain(DRAIN_TIMEOUT)
        made = deliveries_made(receiver.arrivals)
        done.capacity_per_s = capacity(made, done.resumed)
        done.deliveries_per_order = len(made) / done.burst.orders_placed
        done.rate = LOAD_FRACTION * done.capacity_per_s / done.deliveries_per_order
        if done.undelivered or not done.rate:
            return done
        jobs = [
            (workers.paced_service_worker, (url, CASE, seed * 100 + clients + i, done.rate / clients))
            for i in range(clients)
        ]
        reports = run_together(jobs, duration, PACED_WARMUP)
        done.stop = time.time()
        done.paced = collect(Row("webhooks", CASE, clients), reports, PACED_WARMUP)
        if done.failed:
            return done
        done.start = done.stop - max(r["elapsed"] for r in reports)
        done.undelivered = wait_for_drain(DRAIN_TIMEOUT)
        done.worker_cpu_s = cpu_seconds(procs) - started_cpu
    finally:
        stop_workers(procs)
    return done


def measure(result: Webhooks, done: Load, arrivals: list[Arrival]) -> None:
    """Fill ``result`` from the receiver's arrivals and the outbox's tables, after the last drain."""
    assert done.paced is not None
    made = deliveries_made(arrivals)
    start, stop = done.start, done.stop
    window = stop - start
    result.burst_orders = done.burst.orders_placed
    result.deliveries_per_order = round(done.deliveries_per_order, 2)
    result.capacity_per_s = round(done.capacity_per_s, 1)
    result.paced_orders_per_s = round(done.rate, 1)
    result.orders_per_s = done.paced.row.tps
    result.offered_per_s = round((result.orders_per_s or 0) * done.deliveries_per_order, 1)
    result.load_vs_capacity = round(result.offered_per_s / done.capacity_per_s, 2)
    result.deliveries_per_s = round(sum(m.at is not None and start <= m.at <= stop for m in made) / window, 1)
    lags = [m.at - m.created for m in made if not m.mail and m.at is not None and start <= m.created <= stop]
    result.lag_p50_ms, result.lag_p99_ms = ms(percentile(lags, 50)), ms(percentile(lags, 99))
    result.lag_max_ms = ms(max(lags, default=None))
    result.backlog_at_stop = sum(m.created <= stop and (m.at is None or m.at > stop) for m in made)
    result.drain_s = round(max([0.0] + [m.at - stop for m in made if m.at is not None]), 2)
    result.orders = done.burst.orders_placed + done.paced.orders_placed
    result.events = sum(not m.mail for m in made)
    result.received = sum(not m.mail and m.at is not None for m in made)
    result.mails = sum(m.mail and m.at is not None for m in made)
    result.undelivered = done.undelivered
    result.duplicates = len(arrivals) - result.received
    result.lost = sum(m.at is None for m in made) if not done.undelivered else None  # pending is not lost
    with psycopg.connect(pg_conninfo()) as conn:
        result.retries = conn.execute(
            "SELECT COALESCE(SUM(attempts - 1), 0) FROM event_deliveries WHERE attempts > 1"
        ).fetchone()[0]
    delivered = result.received + result.mails
    result.worker_cpu_ms_per_delivery = round(done.worker_cpu_s / delivered * 1000, 2) if delivered else None


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
                done = load(clients, duration, env, logs, receiver)
                if done.paced is not None and not done.failed:
                    measure(result, done, receiver.arrivals)
            finally:
                remove_endpoint(endpoint_id)
            logged = warnings(logs)
    finally:
        receiver.stop()
    if failed := done.failed:
        result.status, result.note = failed.status, failed.note
        return result
    if done.paced is None:
        result.status = "failed"
        result.note = f"the burst's backlog was not drained in {DRAIN_TIMEOUT:g} s: no capacity to pace at"
        return result
    row = done.paced.row
    check_pg(row, result.orders or 0)
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
