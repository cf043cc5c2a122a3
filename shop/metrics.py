"""Prometheus metrics: what the shop counts, and when it counts it (docs/deploy.md lists them for operators).

Counters move only for what happened: orders placed, units moved and holds released are read from
the stock changes of a transaction **after it committed** (the ``stock_changed`` signal, the same
report the audit log writes); refusals and retries are counted where the unit of work ends
(``shop.database.commit_unit_of_work``), deliveries where the worker has written their outcome.
Gauges that describe the database (products low or out of stock, the event backlog) are read
when ``/metrics`` is scraped (``shop.health``), so every process answers the same.

Under gunicorn every worker process writes its counts into ``PROMETHEUS_MULTIPROC_DIR``
(``gunicorn.conf.py`` sets it; ``flask worker`` given the same directory adds its own) and a
scrape adds them up (prometheus-client's multiprocess mode). Without the directory the counts
are the process's own. ``SHOP_METRICS_ENABLED=0`` counts nothing.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Iterable

from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter, Histogram, disable_created_metrics

from . import signals
from .errors import Problem
from .models import MovementReason
from .stock import StockChange

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MULTIPROCESS_DIR:  # the first count of a process opens its file there (a CLI may run before gunicorn)
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

disable_created_metrics()  # no ``*_created`` series: they mean nothing once processes add up

ORDERS_PLACED = Counter(
    "shop_orders_placed", "Orders that took their stock: placed committed, or a draft confirmed"
)
ORDER_PROBLEMS = Counter(
    "shop_order_problems", "Orders refused, by each problem code the refusal named (once per order)", ["code"]
)
STOCK_UNITS = Counter("shop_stock_units", "Units of stock moved, by ledger reason", ["reason"])
HOLDS_RELEASED = Counter("shop_holds_released", "Holds released because nobody paid in time")
RETRIES = Counter(
    "shop_unit_of_work_retries", "Units of work run again, by cause", ["cause"]
)  # deadlock, serialization, lock_timeout
REQUESTS = Counter(
    "shop_http_requests",
    "HTTP requests answered, by endpoint, method and status",
    ["endpoint", "method", "status"],
)
DURATION = Histogram("shop_http_request_duration_seconds", "Time to answer an HTTP request", ["endpoint"])
DELIVERIES = Counter(
    "shop_event_deliveries", "Attempts to deliver an event, by outcome", ["outcome"]
)  # delivered, retry, failed

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def enabled() -> bool:
    return current_app.config["SHOP_METRICS_ENABLED"]


def count_stock_changes(app: Flask, changes: list[StockChange]) -> None:
    """Orders placed, units moved by reason and holds released, from one committed transaction's changes."""
    ORDERS_PLACED.inc(len(_orders_with(changes, MovementReason.ORDER_PLACED)))
    HOLDS_RELEASED.inc(len(_orders_with(changes, MovementReason.HOLD_EXPIRED)))
    units = Tally[str]()
    for change in changes:
        units[change.reason] += abs(change.delta)
    for reason, count in units.items():
        STOCK_UNITS.labels(reason).inc(count)


def _orders_with(changes: Iterable[StockChange], reason: str) -> set[str]:
    return {c.order_number for c in changes if c.reason == reason and c.order_number}


def order_refused(problems: Iterable[Problem]) -> None:
    """One refused order: each problem code it names counts once."""
    if enabled():
        for code in {p.code for p in problems}:
            ORDER_PROBLEMS.labels(code).inc()


def unit_of_work_retried(cause: str) -> None:
    if enabled():
        RETRIES.labels(cause).inc()


def delivery_settled(outcome: str | None) -> None:
    """A delivery's attempt, once its outcome is committed (None: another worker had taken it over)."""
    if outcome is not None and enabled():
        DELIVERIES.labels(outcome).inc()


def count_request(response: Response) -> Response:
    """The request's count and its time (from ``shop.logs.start_request``)."""
    endpoint = request.endpoint or "none"
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        DURATION.labels(endpoint).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Count committed stock changes and every request, unless ``SHOP_METRICS_ENABLED`` is off."""
    if not app.config["SHOP_METRICS_ENABLED"]:
        return
    signals.stock_changed.connect(count_stock_changes, sender=app)
    app.after_request(count_request)
