"""``flask doctor``: is the configuration it runs with safe to serve customers? One line per finding, with its fix.

Each check is one function returning a ``Finding``: ``ERROR`` (exit status 1), ``WARNING`` or ``OK``.
What would be an error with ``SHOP_ENV=production`` is only a warning outside it. The command is a
Flask CLI plugin (``pyproject.toml``'s ``flask.commands``), so that it runs, and reports why, even
when the app refuses to start (a missing or weak ``SECRET_KEY`` in production).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, pass_script_info
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from .extensions import db
from .health import migration_state, worker_seen_at, worker_seen_recently
from .models import utcnow
from .serving import worker_count

ERROR, WARNING, OK = "ERROR", "WARNING", "OK"
MAX_CLOCK_SKEW = 5.0  # seconds between the database's clock and the app's
KEY_FIX = 'set SECRET_KEY to the output of `python -c "import secrets; print(secrets.token_hex(32))"`'


@dataclass(frozen=True)
class Finding:
    level: str
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level:<7} {self.what}" + (f" Fix: {self.fix}" if self.fix else "")


def _production() -> bool:
    return current_app.config["SHOP_ENV"] == "production"


def _serious() -> str:
    """ERROR in production, a WARNING anywhere else."""
    return ERROR if _production() else WARNING


def check_environment() -> Finding:
    if _production():
        return Finding(OK, "SHOP_ENV=production: the production checks apply.")
    env = current_app.config["SHOP_ENV"]
    return Finding(
        WARNING,
        f"SHOP_ENV={env}: what would be an error in production is reported as a warning.",
        "set SHOP_ENV=production on a server that serves customers.",
    )


def check_secret_key() -> Finding:
    if os.environ.get("SECRET_KEY") or current_app.config["SHOP_ENV"] == "production":
        return Finding(OK, "SECRET_KEY is set and long enough.")
    return Finding(
        _serious(),
        "SECRET_KEY is not set: sessions are signed with a key generated into the instance folder, "
        "which another machine of the shop would not share.",
        KEY_FIX + ".",
    )


def check_database_backend() -> Finding:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        return Finding(
            _serious(),
            "DATABASE_URL is a SQLite file: one writer at a time, on one machine, and no pg_dump.",
            "use PostgreSQL: DATABASE_URL=postgresql://USER:PASSWORD@HOST/shop (docs/deploy.md).",
        )
    return Finding(OK, f"DATABASE_URL is {url.get_backend_name()} on {url.host or 'a local socket'}.")


def check_rate_limit_storage() -> Finding:
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return Finding(
            WARNING, "Rate limits are off (RATELIMIT_ENABLED=0).", "unset RATELIMIT_ENABLED or set it to 1."
        )
    workers = worker_count()
    if config["RATELIMIT_STORAGE_URI"].startswith("memory://") and workers > 1:
        return Finding(
            _serious(),
            f"RATELIMIT_STORAGE_URI is memory:// with {workers} workers: each counts alone, so a client "
            f"gets {workers} times its limit.",
            "RATELIMIT_STORAGE_URI=redis://HOST:6379 (or WEB_CONCURRENCY=1).",
        )
    return Finding(OK, f"Rate limits count in {config['RATELIMIT_STORAGE_URI'].split('://')[0]}://.")


def check_payment_secret() -> Finding:
    if current_app.config["SHOP_PAYMENT_SECRET"]:
        return Finding(OK, "SHOP_PAYMENT_SECRET is set: signed payment notifications are accepted.")
    return Finding(
        _serious(),
        "SHOP_PAYMENT_SECRET is not set: every payment notification is refused, so no hold is ever paid.",
        "set SHOP_PAYMENT_SECRET to the signing secret of your payment provider.",
    )


def check_mail() -> Finding:
    if current_app.config["MAIL_SERVER"]:
        return Finding(OK, f"E-mail goes through {current_app.config['MAIL_SERVER']}.")
    return Finding(
        WARNING,
        "MAIL_SERVER is not set: e-mails are written as .eml files into SHOP_MAIL_DIR, and nobody gets them.",
        "set MAIL_SERVER (and MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME, MAIL_PASSWORD, MAIL_DEFAULT_SENDER).",
    )


def check_trusted_proxies() -> Finding:
    proxies = current_app.config["SHOP_TRUSTED_PROXIES"]
    if proxies:
        return Finding(
            OK, f"SHOP_TRUSTED_PROXIES={proxies}: X-Forwarded-* of that many proxies are believed."
        )
    return Finding(
        WARNING,
        "SHOP_TRUSTED_PROXIES is 0: behind a reverse proxy, every client has the proxy's address (one rate "
        "limit for all) and HTTPS is not seen.",
        "set SHOP_TRUSTED_PROXIES to the number of proxies in front of the app (1 behind nginx).",
    )


def check_migrations() -> Finding:
    current, head = migration_state()
    if set(current) == set(head):
        return Finding(OK, f"The database is at the code's migration head ({', '.join(head)}).")
    return Finding(
        ERROR,
        f"The database is at revision {', '.join(current) or 'none'}, the code at {', '.join(head)}.",
        "flask --app app db upgrade (then restart the web server and the worker).",
    )


def check_worker() -> Finding:
    window = current_app.config["SHOP_WORKER_SEEN_SECONDS"]
    if worker_seen_recently():
        return Finding(OK, f"A worker was seen in the last {window} s.")
    seen = worker_seen_at()
    when = "never" if seen is None else f"last at {seen:%Y-%m-%d %H:%M:%S} UTC"
    return Finding(
        WARNING,
        f"No worker seen in the last {window} s ({when}): no e-mail or webhook leaves, expired holds keep their "
        "stock.",
        "run `flask --app app worker` beside the web server (docs/deploy.md).",
    )


def database_clock() -> datetime:
    """The database's clock, as naive UTC."""
    dialect = db.engine.dialect.name
    sql = {
        "postgresql": "SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS timestamp)",
        "mysql": "SELECT UTC_TIMESTAMP(6)",
        "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
    }[dialect]
    value = db.session.scalar(text(sql))
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def check_clock() -> Finding:
    before = time.monotonic()
    theirs = database_clock()
    ours = utcnow() - timedelta(seconds=(time.monotonic() - before) / 2)  # the middle of the round trip
    skew = (theirs - ours).total_seconds()
    if abs(skew) <= MAX_CLOCK_SKEW:
        return Finding(OK, f"The database's clock and the app's agree ({skew:+.1f} s).")
    return Finding(
        WARNING,
        f"The database's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the app's: holds expire "
        "early or late, and webhooks' timestamps are off.",
        "keep both machines on NTP (timedatectl set-ntp true, or chrony).",
    )


CONFIGURATION: list[Callable[[], Finding]] = [
    check_environment,
    check_secret_key,
    check_database_backend,
    check_rate_limit_storage,
    check_payment_secret,
    check_mail,
    check_trusted_proxies,
]
DATABASE: list[Callable[[], Finding]] = [check_migrations, check_worker, check_clock]


def diagnose(load_app: Callable[[], Flask]) -> list[Finding]:
    """Every finding for the app ``load_app`` gives (or why it could not start)."""
    try:
        app = load_app()
    except (
        RuntimeError
    ) as exc:  # the app refuses its configuration; shop.configure's message says how to fix it
        return [Finding(ERROR, f"The app refuses to start: {exc}")]
    with app.app_context():
        findings = [check() for check in CONFIGURATION]
        try:
            for check in DATABASE:
                findings.append(check())
        except DBAPIError as exc:
            findings.append(
                Finding(
                    ERROR,
                    f"The database does not answer: {type(exc.orig).__name__}: {' '.join(str(exc.orig).split())[:200]}",
                    "check DATABASE_URL, and that the database server runs and lets this machine in.",
                )
            )
        finally:
            db.session.remove()
            db.engine.dispose()  # a one-shot command: close what it opened
    return findings


@click.command("doctor")
@pass_script_info
def doctor_command(info: ScriptInfo) -> None:
    """Check the configuration this runs with: one line per finding with its fix; exit 1 on any ERROR."""
    findings = diagnose(info.load_app)
    for finding in findings:
        click.echo(finding.line())
    errors = sum(f.level == ERROR for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    click.echo(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}.")
    if errors:
        raise SystemExit(1)
