"""The real server of tests/server: ``Server`` (one gunicorn), ``Database`` (the test's own view of
that server's database) and the HTTP helpers the tests drive them with.

The fixtures that start them (``backend_url``, ``database``, ``server``, ``shop``) are in
``tests/server/conftest.py``: they are package-scoped, and a package-scoped fixture only ends
with its package when it is defined in that package's conftest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shop import create_app
from shop.extensions import db
from shop.models import Inventory, Location, Product
from tests.support.databases import empty_tables
from tests.support.factories import make_staff

ROOT = Path(__file__).resolve().parent.parent.parent
GUNICORN_CONF = ROOT / "tests" / "server" / "gunicorn_conf.py"
ROOT_GUNICORN_CONF = ROOT / "gunicorn.conf.py"  # the one make serve and docs/deploy.md use
SECRET_KEY = "server-tests-secret"
SERVER_WORKERS = int(os.environ.get("SERVER_WORKERS", "4"))
TIMEOUT = 15  # seconds, every HTTP request of these tests
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ORDER_TOKEN = re.compile(r'name="order_token" type="hidden" value="([^"]+)"')


def poll(condition, *, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Call ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn master and its workers, in their own process group."""

    def __init__(
        self,
        url: str,
        pause_dir: Path,
        log: Path,
        *,
        config: Path = GUNICORN_CONF,
        workers: int | None = SERVER_WORKERS,
        **settings: str,
    ):
        """``settings``: more environment for the shop (``RATELIMIT_ENABLED="1"``).

        ``config``: the repository's own ``gunicorn.conf.py`` instead of the tests' (``ROOT_GUNICORN_CONF``);
        ``workers``: None leaves the count to the configuration. What the app writes to standard error
        (its log lines) goes to ``self.stderr``.
        """
        self.url, self.pause_dir, self.log = url, pause_dir, log
        self.stderr = log.with_name(log.stem + "-stderr.log")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "SHOP_ENV": "development",
            "SHOP_TEST_PAUSE_DIR": str(pause_dir),
            "SHOP_TEST_PARENT_PID": str(os.getpid()),
            **settings,
        }
        with self.stderr.open("ab") as stderr:  # the child keeps its own copy
            self.proc = self._start(config, workers, env, stderr)

    def _start(self, config: Path, workers: int | None, env: dict, stderr) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(config),
                *(["--workers", str(workers)] if workers else []),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--error-logfile",
                str(self.log),
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return requests.get(self.base + "/", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes now."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)
        with contextlib.suppress(ProcessLookupError):  # workers left behind by a dead master
            os.killpg(self.proc.pid, signal.SIGKILL)

    # -- the pause hook of gunicorn_conf.py ----------------------------------------------------

    def paused(self, name: str, timeout: float = 10) -> dict:
        """Wait until the request sent with ``X-Test-Pause: name`` pauses; its worker pid and connection id."""
        marker = self.pause_dir / f"{name}.paused"
        poll(marker.exists, timeout=timeout, what=f"the request {name} to pause in the stock update")
        return json.loads(marker.read_text())

    def release(self, name: str) -> None:
        (self.pause_dir / f"{name}.release").touch()


class Database:
    """The test's own view of the server's database: seeding, checks, and administrative SQL."""

    def __init__(self, backend: str, url: str):
        self.backend, self.url = backend, url
        self.name = make_url(url).database
        self.app = create_app({"TESTING": True, "DATABASE_URL": url})

    @contextlib.contextmanager
    def session(self):
        with self.app.app_context():
            db.session.info["actor"] = "test"
            try:
                yield db.session
            finally:
                db.session.remove()

    def empty(self) -> None:
        with self.session() as session:
            empty_tables(session)
            session.commit()

    def seed(self, stock: dict[str, int], places: tuple[str, ...] = ("main",)) -> str:
        """Products with their initial stock spread over ``places`` (the first gets what does not divide;
        each location after main is added, by priority), ledgered as initial_stock, and a staff token."""
        with self.session() as session:
            for priority, code in enumerate(places[1:], start=1):
                session.add(Location(code=code, name=code.title(), priority=priority))
            session.flush()
            found = {p.code: p for p in session.scalars(select(Location).where(Location.code.in_(places)))}
            for sku, quantity in stock.items():
                share = quantity // len(places)
                product = Product(
                    sku=sku, name=f"Product {sku}", price_cents=500, status="active", low_stock_threshold=2
                )
                for index, code in enumerate(places):
                    units = share + (quantity - share * len(places) if index == 0 else 0)
                    product.stocks.append(Inventory(location=found[code], quantity=units))
                session.add(product)
            session.commit()
            return make_staff(session)[1]

    def scalar(self, sql: str, **params):
        with self.session() as session:
            return session.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.session() as session:
            return session.execute(text(sql), params).all()

    def dispose(self) -> None:
        with self.app.app_context():
            db.engine.dispose()

    # -- administrative SQL, on a connection of its own ------------------------------------------

    @contextlib.contextmanager
    def connect(self, database: str | None = None, **options):
        admin = {"postgresql": "postgres", "mariadb": "mysql"}[self.backend]
        engine = create_engine(
            make_url(self.url).set(database=database or admin),
            poolclass=NullPool,
            **(options or {"isolation_level": "AUTOCOMMIT"}),
        )
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def app_connections(self) -> list[int]:
        """Ids of every connection to this database except the asking one."""
        with self.connect() as conn:
            if self.backend == "postgresql":
                sql = "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
            else:
                sql = "SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID()"
            return [row[0] for row in conn.execute(text(sql), {"db": self.name})]

    def kill_connection(self, connection_id: int) -> None:
        """Drop one connection from the server side, as a crash or an operator would."""
        with self.connect() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": connection_id})
            else:
                with contextlib.suppress(Exception):  # already gone
                    conn.execute(text(f"KILL CONNECTION {int(connection_id)}"))

    def kill_all_connections(self) -> int:
        """Terminate every connection to this database (the app's pools included); how many there were."""
        ids = self.app_connections()
        for connection_id in ids:
            self.kill_connection(connection_id)
        poll(lambda: not self.app_connections(), timeout=10, what="the killed connections to go away")
        return len(ids)

    def lock_free(self, sku: str, lock_timeout: float = 1.0) -> bool:
        """True if the inventory row of ``sku`` can be locked within ``lock_timeout`` seconds now."""
        with self.connect(self.name, isolation_level="READ COMMITTED") as conn:
            if self.backend == "postgresql":
                conn.execute(text(f"SET lock_timeout = '{int(lock_timeout * 1000)}ms'"))
            else:
                conn.execute(text(f"SET SESSION innodb_lock_wait_timeout = {max(1, round(lock_timeout))}"))
            try:
                conn.execute(
                    text(
                        "SELECT i.quantity FROM inventory i JOIN products p ON p.id = i.product_id "
                        "WHERE p.sku = :sku FOR UPDATE"
                    ),
                    {"sku": sku},
                ).all()
                return True
            except Exception as exc:  # noqa: BLE001 - lock timeout (55P03 / 1205)
                if "lock" in str(exc).lower():
                    return False
                raise
            finally:
                conn.rollback()


# -- HTTP helpers --------------------------------------------------------------------------------


def form_values(page: str) -> tuple[str, str]:
    """(CSRF token, signed order number) of a rendered checkout page."""
    return CSRF.search(page).group(1), ORDER_TOKEN.search(page).group(1)


REMOVE_BUTTON = re.compile(r'name="remove" value="(\d+)"')


def fill_cart(http: requests.Session, base: str, quantities: dict[str, int]) -> list[str]:
    """Empty the session's cart (each line's Remove), then each product's Add to cart, as a browser does.

    Returns the SKUs that could not be added because they cannot be ordered now (sold out: their page
    has no Add to cart, or it answers 422).
    """
    page = http.get(base + "/cart", timeout=TIMEOUT)
    assert page.status_code == 200, page.status_code
    csrf = CSRF.search(page.text).group(1) if CSRF.search(page.text) else None
    for product_id in REMOVE_BUTTON.findall(page.text):
        removed = http.post(
            base + "/cart/remove",
            data={"csrf_token": csrf, "remove": product_id},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert removed.status_code == 302, removed.status_code
    refused = []
    for sku, quantity in quantities.items():
        page = http.get(f"{base}/products/{sku}", timeout=TIMEOUT)
        assert page.status_code == 200, (sku, page.status_code)
        form = CSRF.search(page.text)
        if form is None:  # no Add to cart on its page: sold out (or unavailable) now
            refused.append(sku)
            continue
        added = http.post(
            base + "/cart/add",
            data={"csrf_token": form.group(1), "sku": sku, "quantity": str(quantity)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if added.status_code == 422 and "be ordered right now" in added.text:
            refused.append(sku)  # sold out between the page and the click
        else:
            assert added.status_code == 302, (sku, added.status_code, added.text[:300])
    return refused


def checkout_form(
    http: requests.Session,
    base: str,
    quantities: dict[str, int],
    *,
    name: str = "Ada Lovelace",
    email: str = "ada@example.com",
    sold_out_ok: bool = False,
) -> dict | None:
    """Put ``quantities`` in the cart and fill in the checkout page: the data a browser would POST to /checkout.

    A product that is sold out cannot be added: with ``sold_out_ok`` that gives None, else it fails.
    """
    sold_out = fill_cart(http, base, quantities)
    if sold_out:
        assert sold_out_ok, f"sold out: {sold_out}"
        return None
    page = http.get(base + "/checkout", timeout=TIMEOUT)
    assert page.status_code == 200, page.status_code
    csrf, token = form_values(page.text)
    return {
        "csrf_token": csrf,
        "order_token": token,
        "customer_name": name,
        "customer_email": email,
        "place": "1",
    }


def post_form(
    http: requests.Session, base: str, data: dict, headers: dict | None = None
) -> requests.Response:
    """Send a checkout page's form (``checkout_form``) to /checkout."""
    return http.post(base + "/checkout", data=data, headers=headers, allow_redirects=False, timeout=TIMEOUT)


def order_body(quantities: dict[str, int]) -> dict:
    return {
        "status": "confirmed",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "lines": [{"sku": sku, "quantity": q} for sku, q in quantities.items()],
    }


def post_order(
    http: requests.Session, base: str, quantities: dict[str, int], key: str, headers: dict | None = None
) -> requests.Response:
    return http.post(
        base + "/api/v1/orders",
        json=order_body(quantities),
        timeout=TIMEOUT,
        headers={"Idempotency-Key": key, **(headers or {})},
    )


def number_from_redirect(response: requests.Response) -> str:
    """The order number of a checkout's redirect to /orders/<number>."""
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
