"""docs/deploy.md, walked on this machine: the guide's own commands, unit files and environment file.

The blocks marked ``<!-- walked: NAME -->`` are run as written, with the guide's paths mapped to the
test's (``/srv/shop`` is this checkout, ``/etc/shop/shop.env`` and ``/var/backups/shop`` folders of
the test's) and the environment file's placeholders replaced (a fresh PostgreSQL database, Redis
with a key prefix of the test's, a real SMTP server, a short worker-seen window). The walk: migrate,
``flask doctor``, the two services from their ``ExecStart`` lines (gunicorn with 3 workers and Redis
rate limits, the worker), orders placed behind the "proxy" the test plays, ``/readyz`` 200,
``/metrics`` equal to what was placed, the JSON log lines; the worker stopped and ``/readyz`` saying
so; a ``pg_dump`` restored into a second database that reconciles.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy.engine import make_url

from shop import SETTINGS
from tests.support.databases import create_server_database, run_on_server
from tests.support.metrics import scrape, value
from tests.support.server import TIMEOUT, Database, free_port, poll

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
WALKED = re.compile(r"<!-- walked: (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
OTHER_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR",
    "WEB_CONCURRENCY",
}  # read by gunicorn.conf.py and prometheus-client
SEEN_WINDOW = 4  # seconds: the worker notes itself every second, and is missed 4 s after it stopped
CHECKOUT_LIMIT = 10  # the default SHOP_CHECKOUT_RATE_LIMIT: 10 per minute


def walked_blocks() -> dict[str, str]:
    return {m["name"]: m["body"] for m in WALKED.finditer(GUIDE.read_text())}


def environment_file(block: str) -> dict[str, str]:
    """NAME=value lines as systemd's EnvironmentFile reads them (comments skipped, one pair of quotes removed)."""
    values = {}
    for line in block.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, raw = line.partition("=")
            values[name.strip()] = (
                raw.strip()[1:-1] if raw.strip()[:1] == raw.strip()[-1:] == '"' else raw.strip()
            )
    return values


def unit_line(unit: str, key: str) -> str:
    (line,) = [line for line in unit.splitlines() if line.startswith(key + "=")]
    return line.split("=", 1)[1]


class Walk:
    """The guide's paths mapped to this test's, its environment, and the processes it started."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp = tmp_path
        self.env = env
        self.paths = {
            "/srv/shop/.venv/bin/": f"{Path(sys.executable).parent}/",
            ".venv/bin/": f"{Path(sys.executable).parent}/",
            "/srv/shop": str(ROOT),
            "/etc/shop/shop.env": str(tmp_path / "shop.env"),
            "/var/backups/shop": str(tmp_path / "backups"),
        }
        self.processes: list[subprocess.Popen] = []

    def mapped(self, text: str, **more: str) -> str:
        """``text`` with each of the guide's paths (and ``more``) replaced, longest first, in one pass."""
        table = {**self.paths, **more}
        pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
        return pattern.sub(lambda m: table[m.group(0)], text)

    def sh(self, block: str, **more: str) -> subprocess.CompletedProcess:
        """Run a walked block with bash, as an operator would in /srv/shop with the environment loaded."""
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.mapped(block, **more)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def service(self, unit: str, log: Path, **more: str) -> subprocess.Popen:
        """Start a unit file's ExecStart in its WorkingDirectory with its environment, in a process group of its own."""
        assert self.mapped(unit_line(unit, "EnvironmentFile")) == str(self.tmp / "shop.env")
        command = shlex.split(self.mapped(unit_line(unit, "ExecStart"), **more))
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=self.mapped(unit_line(unit, "WorkingDirectory")),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> int:
        """SIGTERM, as systemd stops a service; the exit status."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.stop(process)


@pytest.fixture
def fresh_database():
    url, drop = create_server_database("postgresql", f"deploy_{os.getpid()}")
    restore = make_url(url).set(database=f"{make_url(url).database}_restore")
    run_on_server(url, f'DROP DATABASE IF EXISTS "{restore.database}" WITH (FORCE)')
    yield url
    run_on_server(url, *drop, f'DROP DATABASE IF EXISTS "{restore.database}" WITH (FORCE)')


@pytest.fixture
def walk(tmp_path, fresh_database, smtp_server):
    """The guide's environment file with its placeholders replaced, and the processes stopped afterwards."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    guide_env = environment_file(walked_blocks()["environment"])
    unknown = set(guide_env) - set(SETTINGS) - OTHER_SETTINGS
    assert not unknown, f"the guide's environment file sets what the shop does not read: {unknown}"
    database = make_url(fresh_database)
    env_file = {
        **guide_env,
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database.set(drivername="postgresql").render_as_string(hide_password=False),
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"shop-deploy-test-{uuid.uuid4().hex}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_USE_TLS": "0",
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "WEB_CONCURRENCY": "3",
        "SHOP_WORKER_SEEN_SECONDS": str(SEEN_WINDOW),
        "SHOP_LOG_LEVEL": "INFO",
    }
    (tmp_path / "shop.env").write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))
    (tmp_path / "backups").mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PGHOST": "127.0.0.1",  # createdb and dropdb, "as a role that may create databases"
        "PGUSER": database.username or "postgres",
        **env_file,
    }
    walk = Walk(tmp_path, env)
    yield walk
    walk.stop_all()


def readyz(base: str) -> requests.Response:
    return requests.get(base + "/readyz", timeout=TIMEOUT)


def order(base: str, address: str, lines: dict[str, int], request_id: str) -> requests.Response:
    """POST /api/v1/orders as nginx would forward a customer's: the client address and a request id added."""
    return requests.post(
        base + "/api/v1/orders",
        json={
            "status": "confirmed",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        },
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-Forwarded-For": address, "X-Request-ID": request_id},
        timeout=TIMEOUT,
    )


def test_the_production_guide_works_as_written(walk, tmp_path, smtp_server):
    blocks = walked_blocks()
    assert set(blocks) >= {"environment", "migrate", "doctor", "shop-web.service", "shop-worker.service"}

    migrated = walk.sh(blocks["migrate"])
    assert migrated.returncode == 0, migrated.stderr
    checked = walk.sh(blocks["doctor"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    warnings = [line for line in checked.stdout.splitlines() if not line.startswith("OK ")][:-1]
    assert len(warnings) == 1, checked.stdout
    assert warnings[0].startswith(f"WARNING No worker seen in the last {SEEN_WINDOW} s (never)"), (
        "not started yet"
    )

    seeding = Database("postgresql", walk.env["DATABASE_URL"])
    seeding.seed({"TEA": 40, "CUP": 3})
    seeding.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = walk.service(
        blocks["shop-web.service"], tmp_path / "web.log", **{"127.0.0.1:8000": f"127.0.0.1:{port}"}
    )
    worker = walk.service(blocks["shop-worker.service"], tmp_path / "worker.log")
    poll(
        lambda: _answers(base) and readyz(base).status_code == 200,
        timeout=60,
        interval=0.2,
        what="/readyz 200",
    )
    assert set(readyz(base).json()["checks"]) == {"database", "migrations", "events", "worker"}
    assert len(Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text().split()) == 3

    # One customer past the checkout limit (Redis counts for all 3 workers), two refused orders.
    first = [
        order(base, "203.0.113.7", {"TEA": 1}, f"walk-{i}").status_code for i in range(CHECKOUT_LIMIT + 1)
    ]
    assert first == [201] * CHECKOUT_LIMIT + [429]
    assert order(base, "203.0.113.8", {"CUP": 5}, "walk-short").status_code == 409
    assert order(base, "203.0.113.9", {"NOPE": 1}, "walk-unknown").status_code == 409
    assert order(base, "203.0.113.8", {"CUP": 3}, "walk-last-cups").status_code == 201

    placed = CHECKOUT_LIMIT + 1

    def confirmations() -> int:
        return sum(message["Subject"].startswith("Your order") for message in smtp_server.messages)

    poll(lambda: confirmations() == placed, timeout=30, what="the worker to send each confirmation")
    token = walk.env["SHOP_METRICS_TOKEN"]
    assert requests.get(base + "/metrics", timeout=TIMEOUT).status_code == 404, "no token, no metrics"

    def metrics() -> dict:
        return scrape(
            requests.get(
                base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
            ).text
        )

    poll(lambda: value(metrics(), "shop_event_deliveries_total", outcome="delivered") == placed, timeout=10)
    samples = metrics()
    assert {
        "placed": value(samples, "shop_orders_placed_total"),
        "units": value(samples, "shop_stock_units_total", reason="order_placed"),
        "short": value(samples, "shop_order_problems_total", code="insufficient_stock"),
        "unknown": value(samples, "shop_order_problems_total", code="unknown_product"),
        "limited": value(
            samples, "shop_http_requests_total", endpoint="api.create_order", method="POST", status="429"
        ),
        "out of stock": value(samples, "shop_products_out_of_stock"),
    } == {
        "placed": placed,
        "units": CHECKOUT_LIMIT + 3,
        "short": 1,
        "unknown": 1,
        "limited": 1,
        "out of stock": 1,
    }

    again = walk.sh(blocks["doctor"])
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "0 errors, 0 warnings.", again.stdout

    assert walk.stop(worker) == 0, "the worker exits cleanly on SIGTERM"
    poll(
        lambda: readyz(base).status_code == 503,
        timeout=SEEN_WINDOW + 10,
        interval=0.5,
        what="/readyz to miss the worker",
    )
    missed = readyz(base).json()
    assert missed["status"] == "fail" and missed["checks"]["worker"]["ok"] is False
    assert all(check["ok"] for name, check in missed["checks"].items() if name != "worker")

    log_lines = [
        json.loads(line) for line in (tmp_path / "web.log").read_text().splitlines() if line.startswith("{")
    ]
    requests_logged = {line["request_id"]: line for line in log_lines if line["logger"] == "shop.requests"}
    assert (
        requests_logged["walk-short"]["status"] == 409
        and requests_logged["walk-short"]["path"] == "/api/v1/orders"
    )
    assert requests_logged["walk-short"]["remote_addr"] == "203.0.113.8", "the address nginx forwarded"
    changes = [
        line
        for line in log_lines
        if line["logger"] == "shop.inventory"
        and line["request_id"] == "walk-last-cups"
        and line["message"].startswith("stock_change")
    ]
    assert [(c["sku"], c["delta"], c["reason"]) for c in changes] == [("CUP", -3, "order_placed")]
    assert not [line for line in log_lines if line.get("path") in ("/healthz", "/readyz")], (
        "probes stay out of the info log"
    )

    restore = f"{make_url(walk.env['DATABASE_URL']).database}_restore"
    backup = walk.sh(blocks["backup"])
    assert backup.returncode == 0, backup.stderr
    assert (tmp_path / "backups" / "shop.dump").stat().st_size > 0
    restored = walk.sh(blocks["restore"], shop_restore=restore)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "All 2 product(s) reconcile with the ledger at every location." in restored.stdout
    assert walk.stop(web) == 0, "gunicorn stops cleanly on SIGTERM"


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or a worker still starting
        return False
