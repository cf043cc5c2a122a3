"""Health, readiness and metrics: ``/healthz``, ``/readyz``, ``/metrics``, and the readings behind them.

- ``/healthz``: the process answers (no database): a load balancer's liveness probe.
- ``/readyz``: each check by name (``database``, ``migrations`` at head, ``worker`` seen within
  ``SHOP_WORKER_SEEN_SECONDS`` when ``SHOP_EXPECT_WORKER`` is on, ``events`` backlog under
  ``SHOP_READY_MAX_BACKLOG``), 200 when all pass, else 503.
- ``/metrics``: Prometheus' text format, for a bearer of ``SHOP_METRICS_TOKEN`` or a client in
  ``SHOP_METRICS_ALLOW``; to anyone else it does not exist (404). The counters are
  ``shop.metrics``'s; the gauges that describe the database are read here at each scrape.

None of them is rate-limited, and the request log writes them at debug level (``shop.logs``).
``flask doctor`` (``shop.doctor``) uses the same readings.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from ipaddress import ip_address

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, or_, select, text
from sqlalchemy.exc import DBAPIError

from . import metrics
from .extensions import db
from .models import Inventory, Product, ProductStatus, utcnow
from .outbox import DeliveryStatus, Event, EventDelivery, WorkerClock
from .outbox.worker import SEEN
from .rate_limits import limiter
from .stock import IS_ORDERABLE

bp = Blueprint("health", __name__)

# -- readings of the database ------------------------------------------------------------------


@cache
def migration_head(directory: str) -> tuple[str, ...]:
    """The head revisions of the migrations in ``directory`` (read once per process)."""
    return tuple(ScriptDirectory(directory).get_heads())


def migration_state() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the database's revisions, the code's head revisions)."""
    current = MigrationContext.configure(db.session.connection()).get_current_heads()
    return tuple(current), migration_head(current_app.extensions["migrate"].directory)


def worker_seen_at() -> datetime | None:
    """When a worker last wrote down that it was alive (None: never)."""
    return db.session.scalar(select(WorkerClock.at).where(WorkerClock.name == SEEN))


def worker_seen_recently(now: datetime | None = None) -> bool:
    seen = worker_seen_at()
    window = timedelta(seconds=current_app.config["SHOP_WORKER_SEEN_SECONDS"])
    return seen is not None and seen >= (now or utcnow()) - window


@dataclass(frozen=True)
class Backlog:
    """Events not delivered yet: their deliveries that are pending, plus events not in the feed yet."""

    count: int
    oldest: datetime | None  # when the oldest of them happened

    def age(self, now: datetime | None = None) -> float:
        """Seconds since the oldest undelivered event happened (0: none)."""
        return max(0.0, ((now or utcnow()) - self.oldest).total_seconds()) if self.oldest else 0.0


def event_backlog() -> Backlog:
    pending, oldest_pending = db.session.execute(
        select(func.count(EventDelivery.id), func.min(Event.created_at))
        .join(Event, Event.id == EventDelivery.event_id)
        .where(EventDelivery.status == DeliveryStatus.PENDING)
    ).one()
    unsequenced, oldest_unsequenced = db.session.execute(
        select(func.count(Event.id), func.min(Event.created_at)).where(Event.position.is_(None))
    ).one()
    oldest = min((t for t in (oldest_pending, oldest_unsequenced) if t is not None), default=None)
    return Backlog(pending + unsequenced, oldest)


def stock_counts() -> tuple[int, int]:
    """(active products low on stock but orderable, active products out of stock)."""
    out = or_(Inventory.quantity.is_(None), Inventory.quantity <= 0)
    low, none_left = db.session.execute(
        select(
            func.sum(case((IS_ORDERABLE & (Inventory.quantity <= Product.low_stock_threshold), 1), else_=0)),
            func.sum(case((out, 1), else_=0)),
        )
        .select_from(Product)
        .outerjoin(Inventory, Inventory.product_id == Product.id)
        .where(Product.status == ProductStatus.ACTIVE)
    ).one()
    return int(low or 0), int(none_left or 0)


# -- /healthz and /readyz ----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: object


def check_database() -> Check:
    db.session.execute(text("SELECT 1"))
    return Check(True, "answered")


def check_migrations() -> Check:
    current, head = migration_state()
    detail = {"database": list(current), "code": list(head)}
    return Check(set(current) == set(head), detail)


def check_worker() -> Check:
    seen = worker_seen_at()
    if seen is None:
        return Check(False, "never seen")
    ago = round((utcnow() - seen).total_seconds(), 1)
    return Check(worker_seen_recently(), f"seen {ago} s ago")


def check_events() -> Check:
    backlog = event_backlog()
    limit = current_app.config["SHOP_READY_MAX_BACKLOG"]
    return Check(
        backlog.count < limit,
        {"backlog": backlog.count, "limit": limit, "oldest_seconds": round(backlog.age(), 1)},
    )


def readiness() -> dict[str, Check]:
    """Every check of ``/readyz`` by name; all but ``database`` fail when the database does not answer."""
    checks = {"database": check_database, "migrations": check_migrations, "events": check_events}
    if current_app.config["SHOP_EXPECT_WORKER"]:
        checks["worker"] = check_worker
    results: dict[str, Check] = {}
    try:
        for name, check in checks.items():
            results[name] = check()
    except DBAPIError as exc:
        db.session.rollback()
        failed = Check(False, f"the database did not answer: {type(exc.orig).__name__}")
        results |= {name: failed for name in checks if name not in results}
    finally:
        db.session.rollback()
    return results


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """The process answers; nothing else is asked."""
    return {"status": "ok"}


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """Ready for traffic: 200 when every check passes, 503 naming the one that failed."""
    checks = readiness()
    ready = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if ready else "fail",
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
    }
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


# -- /metrics ----------------------------------------------------------------------------------


def may_read_metrics() -> bool:
    """A bearer of ``SHOP_METRICS_TOKEN``, or a client whose address is in ``SHOP_METRICS_ALLOW``."""
    config = current_app.config
    token = config["SHOP_METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    try:
        client = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(client in network for network in config["SHOP_METRICS_ALLOW"])


class DatabaseGauges:
    """The gauges read from the database at each scrape: products low and out of stock, the event backlog."""

    def collect(self):
        try:
            low, out = stock_counts()
            backlog = event_backlog()
        except DBAPIError:
            db.session.rollback()
            return  # the counters are still served; /readyz says what is wrong
        finally:
            db.session.rollback()
        yield GaugeMetricFamily(
            "shop_products_low_stock", "Active products low on stock, still orderable", low
        )
        yield GaugeMetricFamily("shop_products_out_of_stock", "Active products with no stock", out)
        yield GaugeMetricFamily(
            "shop_events_backlog", "Event deliveries pending, and events not in the feed yet", backlog.count
        )
        yield GaugeMetricFamily(
            "shop_events_oldest_pending_seconds", "Age of the oldest undelivered event", backlog.age()
        )


def exposition() -> bytes:
    """The counters (every process's, in multiprocess mode) and the database's gauges, in text format."""
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseGauges())
    if metrics.MULTIPROCESS_DIR:
        counters = CollectorRegistry()
        MultiProcessCollector(counters, path=metrics.MULTIPROCESS_DIR)
    else:
        counters = REGISTRY
    return generate_latest(counters) + generate_latest(gauges)


@bp.get("/metrics")
@limiter.exempt
def metrics_view():
    """Prometheus' text format, or 404 for anyone who may not read it (or with metrics off)."""
    if not current_app.config["SHOP_METRICS_ENABLED"] or not may_read_metrics():
        abort(404)
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
