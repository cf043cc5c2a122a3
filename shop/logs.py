"""Logs: one line per request, the request id on every line of a request, text or JSON (``SHOP_LOG_FORMAT``).

Every logger of the shop is a child of ``shop`` (``shop.requests``, ``shop.inventory``,
``shop.worker``, …, and Flask's ``app.logger``), so one handler on ``shop`` writes them all to
standard error: as text, or with ``SHOP_LOG_FORMAT=json`` as one JSON object per line
(python-json-logger) carrying the fields passed in ``extra``. A request's id is the incoming
``X-Request-ID`` when ``SHOP_TRUSTED_PROXIES`` says a proxy in front of the app wrote it, else a new
one; it is sent back in ``X-Request-ID``. Health probes and metric scrapes are logged at debug level.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time

from flask import Flask, Response, current_app, g, has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger("shop.requests")

HEADER = "X-Request-ID"
# What a request id from a proxy may look like: nothing that could forge a log line or a header.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: debug level
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"


class StandardError(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a line is logged (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class RequestIdFilter(logging.Filter):
    """Put the id of the request being served (or ``-``) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def formatter(log_format: str) -> logging.Formatter:
    """The text formatter, or the JSON one (``time``, ``level``, ``logger``, ``message`` and the extras)."""
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601, UTC
            json_ensure_ascii=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: str, level: str) -> None:
    """Give the ``shop`` logger its one handler (replacing an earlier app's) in the chosen format."""
    shop_logger = logging.getLogger("shop")  # also Flask's app.logger: the app is named shop
    for handler in [h for h in shop_logger.handlers if isinstance(h, StandardError) or h is default_handler]:
        shop_logger.removeHandler(handler)
    handler = StandardError()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestIdFilter())
    shop_logger.addHandler(handler)
    shop_logger.setLevel(level)


def request_id(trusted_proxies: int) -> str:
    """The incoming ``X-Request-ID`` if a trusted proxy may have set it and it looks like an id; else a new one."""
    incoming = request.headers.get(HEADER, "")
    if trusted_proxies and REQUEST_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


def start_request() -> None:
    """Note when the request began (its line's duration, and the metrics') and give it its id."""
    g.request_started = time.perf_counter()
    g.request_id = request_id(current_app.config["SHOP_TRUSTED_PROXIES"])


def finish_request(response: Response) -> Response:
    """Send the request id back and write the request's line."""
    rid = g.get("request_id")
    if rid is None:  # a request that never reached before_request (nothing to time)
        return response
    response.headers[HEADER] = rid
    duration_ms = round((time.perf_counter() - g.request_started) * 1000, 2)
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    logger.log(
        level,
        "%s %s %d %.1f ms",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "remote_addr": request.remote_addr,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Configure the ``shop`` logger and time and log every request (call before other request hooks)."""
    configure_logging(app.config["SHOP_LOG_FORMAT"], app.config["SHOP_LOG_LEVEL"])
    app.before_request(start_request)
    app.after_request(finish_request)


def gunicorn_logging(log_format: str) -> dict | None:
    """gunicorn's ``logconfig_dict`` for ``log_format``: its own lines as JSON on standard error (None: its default).

    The access log stays off in either format: the app writes each request's line itself.
    """
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {"stderr": {"class": "shop.logs.StandardError", "formatter": "json"}},
        "formatters": {"json": {"()": "shop.logs.formatter", "log_format": "json"}},
    }
