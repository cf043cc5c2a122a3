"""Shop: a Flask shop whose orders take stock in the same transaction, without overselling."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network

from flask import Flask

__all__ = ["create_app"]


def create_app(test_config: Mapping | None = None, *, instance_path: str | None = None) -> Flask:
    """Application factory: configuration and wiring, nothing else.

    ``instance_path`` moves the instance folder (the default SQLite file, the generated secret key)
    from ``instance/`` at the repository root elsewhere.
    """
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    os.makedirs(app.instance_path, exist_ok=True)
    configure(app, test_config)
    trust_proxies(app)
    register_operations(app)
    register_extensions(app)
    register_inventory_observer(app)
    register_event_recorder(app)
    register_blueprints(app)
    register_commands(app)
    return app


def _flag(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("use 1/0, true/false, yes/no or on/off")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be more than 0")
    return number


def _allocation(value: str) -> str:
    from .stock import Strategy  # the strategies shop.stock.allocation knows

    if value not in set(Strategy):
        raise ValueError("use " + " or ".join(Strategy))
    return value


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated addresses or networks (``10.0.0.0/8``); an address is a network of one."""
    return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())


def _log_format(value: str) -> str:
    if value.strip().lower() not in ("text", "json"):
        raise ValueError("use text or json")
    return value.strip().lower()


def _log_level(value: str) -> str:
    if value.strip().upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return value.strip().upper()


# What an operator sets in the environment: name → (parser, default). The README's
# Configuration table lists them; a mapping passed to create_app overrides any of them.
SETTINGS: dict[str, tuple[Callable[[str], object], object]] = {
    "SHOP_ENV": (str, "development"),
    "SECRET_KEY": (str, None),
    "DATABASE_URL": (str, None),  # None: a SQLite file in the instance folder
    "SHOP_HOLD_MINUTES": (_positive_int, 15),
    # Stock in several places (shop.locations): where stock goes when no location is named, and
    # which locations an order's lines come from when no single one can serve the whole order.
    "SHOP_DEFAULT_LOCATION": (str, "main"),
    "SHOP_ALLOCATION": (_allocation, "priority"),
    "SHOP_PAYMENT_SECRET": (str, None),  # None: signed payment notifications are refused
    "SHOP_CURRENCY": (str, "EUR"),
    "SHOP_DEMO_PAYMENTS": (_flag, None),  # None: on, except in production
    "SHOP_CHECKOUT_RATE_LIMIT": (str, "10 per minute"),
    "SHOP_LOGIN_RATE_LIMIT": (str, "5 per minute"),  # per client address
    "SHOP_LOGIN_ACCOUNT_LIMIT": (str, "100 per hour"),  # per e-mail from every address; its owner is told
    # Hoarding limits for customers (staff exempt); 0 turns a rule off (shop.hoarding).
    "SHOP_DEFAULT_MAX_PER_ORDER": (_count, 10),  # units per order of a product that sets no max_per_order
    "SHOP_MAX_HELD_UNITS": (_count, 20),  # units one client may hold at once across its live holds
    "RATELIMIT_STORAGE_URI": (str, "memory://"),
    "RATELIMIT_KEY_PREFIX": (str, "shop"),  # tells apart shops that share one Redis
    "RATELIMIT_ENABLED": (_flag, True),
    "SHOP_SESSION_HOURS": (_positive_int, 8),  # a staff log-in ends this long after it began
    "SHOP_TRUSTED_PROXIES": (_count, 0),  # reverse proxies in front of the app whose X-Forwarded-* count
    "SHOP_HSTS_INCLUDE_SUBDOMAINS": (_flag, False),  # HSTS for every subdomain too: only if all serve HTTPS
    # Events that leave the shop (shop.outbox): e-mail, webhooks, the worker.
    "SHOP_PUBLIC_URL": (str, "http://127.0.0.1:5000"),  # where links in e-mails point
    "SHOP_MAIL_DIR": (str, None),  # None: instance/mail; .eml files when no MAIL_SERVER is set
    "SHOP_STAFF_ALERTS_TO": (str, None),  # comma-separated; None: every active staff account
    "SHOP_LOW_STOCK_DIGEST_MINUTES": (_positive_int, 60),
    "SHOP_EVENTS_RETENTION_DAYS": (_positive_int, 30),
    "SHOP_WEBHOOK_TIMEOUT": (_positive_float, 10.0),  # seconds a webhook endpoint has to answer
    "SHOP_WEBHOOKS_ALLOW_PRIVATE": (
        _flag,
        False,
    ),  # development and tests only: http:// and private addresses
    "MAIL_SERVER": (str, None),
    "MAIL_PORT": (_positive_int, 25),
    "MAIL_USE_TLS": (_flag, False),
    "MAIL_USE_SSL": (_flag, False),
    "MAIL_USERNAME": (str, None),
    "MAIL_PASSWORD": (str, None),
    "MAIL_DEFAULT_SENDER": (str, "Shop <shop@localhost>"),
    # Running in production (shop.health, shop.metrics, shop.logs, shop.doctor; docs/deploy.md).
    "SHOP_EXPECT_WORKER": (_flag, False),  # /readyz fails when no worker was seen lately
    "SHOP_WORKER_SEEN_SECONDS": (_positive_int, 120),  # "seen lately": within this many seconds
    "SHOP_READY_MAX_BACKLOG": (_positive_int, 10000),  # /readyz fails at this many undelivered events
    "SHOP_METRICS_ENABLED": (_flag, True),  # 0: nothing is counted and /metrics is 404
    "SHOP_METRICS_TOKEN": (str, None),  # /metrics answers a request with this bearer token
    "SHOP_METRICS_ALLOW": (_networks, ()),  # ... or one from these addresses (comma-separated, CIDR allowed)
    "SHOP_LOG_FORMAT": (_log_format, "text"),  # text or json (one JSON object per line)
    "SHOP_LOG_LEVEL": (_log_level, "INFO"),
}

# A SECRET_KEY an attacker could guess (``dev``, any short word) signs sessions they can forge.
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_FILE = "secret_key"  # in the instance folder, when no SECRET_KEY is set outside production
MAX_BODY_BYTES = 1024 * 1024  # a larger request body is refused (413) before any view reads it


def _from_environment() -> dict[str, object]:
    values = {}
    for name, (parse, default) in SETTINGS.items():
        raw = os.environ.get(name)
        try:
            values[name] = default if raw is None else parse(raw)
        except ValueError as exc:
            raise RuntimeError(f"{name}={raw!r} is not valid: {exc}.") from None
    return values


def configure(app: Flask, test_config: Mapping | None) -> None:
    from .database import engine_options, normalize_url

    app.config.from_mapping(_from_environment())
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(
        app.instance_path, "shop.sqlite"
    )
    production = (test_config or {}).get("SHOP_ENV", app.config["SHOP_ENV"]) == "production"
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,  # every route; the API lowers it for its own (shop.api.views)
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=production,
    )
    if app.config["SHOP_DEMO_PAYMENTS"] is None:
        app.config["SHOP_DEMO_PAYMENTS"] = not production
    if test_config:
        app.config.from_mapping(test_config)
    url = normalize_url(app.config["DATABASE_URL"])
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", url)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    if app.config["SHOP_ENV"] == "production":
        app.config["DEBUG"] = False  # even with FLASK_DEBUG set: no debugger, no tracebacks
    app.config["SECRET_KEY"] = secret_key(app)
    # A staff session ends this long after its log-in (shop.web.staff.auth); Flask's cookie loader
    # also refuses any session cookie signed longer ago than this.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["SHOP_SESSION_HOURS"])


def secret_key(app: Flask) -> str:
    """The key that signs sessions: refused in production if missing or weak; else generated once.

    Outside production, without a SECRET_KEY, a random key is written once into the instance
    folder (mode 0600) and read back by every later start and every worker: never a fixed string.
    """
    key = app.config["SECRET_KEY"]
    if app.config["SHOP_ENV"] == "production":
        if not key:
            raise RuntimeError(
                "SECRET_KEY must be set when SHOP_ENV=production, e.g. to the output of "
                '`python -c "import secrets; print(secrets.token_hex(32))"`.'
            )
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise RuntimeError(
                f"SECRET_KEY is too weak for SHOP_ENV=production: use at least {MIN_SECRET_KEY_LENGTH} "
                'random characters, e.g. `python -c "import secrets; print(secrets.token_hex(32))"`.'
            )
        return key
    return key or instance_secret_key(app.instance_path)


def instance_secret_key(folder: str) -> str:
    """The key in ``folder/secret_key``, created (mode 0600) with a random key if it is not there.

    Several processes may start at once (gunicorn workers): the key is written to a private
    temporary file and linked into place, so the first one wins and nobody reads half a file.
    """
    path = os.path.join(folder, SECRET_KEY_FILE)
    if not os.path.exists(path):
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(32) + "\n")
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process was first: use its key
        finally:
            os.unlink(temporary)
    with open(path, encoding="ascii") as file:
        key = file.read().strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(f"{path} does not hold a usable key: delete it and a new one is generated.")
    return key


def trust_proxies(app: Flask) -> None:
    """Behind ``SHOP_TRUSTED_PROXIES`` reverse proxies, believe their X-Forwarded-For/-Proto/-Host.

    Werkzeug's ProxyFix takes the client address, the scheme and the host from the last N values of
    those headers, which the N proxies wrote; anything a client added before them is ignored. Then
    ``request.is_secure`` (HSTS, Secure cookies) follows the scheme the client used with the proxy,
    and the rate limits count per real client address. With 0 (the default) the headers are ignored:
    a client could write anything in them.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    proxies = app.config["SHOP_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


def register_operations(app: Flask) -> None:
    """Logs, metrics, and /healthz, /readyz, /metrics (docs/deploy.md).

    First, so that every request gets its id, its time and its log line before any other hook
    (a rate limit, a CSRF check) can answer it.
    """
    from . import health, logs, metrics

    logs.init_app(app)
    metrics.init_app(app)
    health.init_app(app)


def register_extensions(app: Flask) -> None:
    from . import database
    from .extensions import csrf, db, login_manager, migrate
    from .rate_limits import limiter

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)


def register_inventory_observer(app: Flask) -> None:
    """Wire the session hook, the observer and the after-commit audit receivers."""
    from . import audit, events
    from .observer import InventoryObserver

    events.init_app(app)
    observer = InventoryObserver()
    observer.connect(app)
    # Blinker holds receivers weakly: the app keeps its observer alive.
    app.extensions["shop.inventory_observer"] = observer
    audit.init_app(app)


def register_event_recorder(app: Flask) -> None:
    """The outbox's recorder beside the observer, e-mail, and the worker's commands (shop.outbox).

    Order events carry the order as the API shows it.
    """
    from . import outbox
    from .api.answers import order_json

    outbox.init_app(app, order_json=order_json)


def register_blueprints(app: Flask) -> None:
    from .api import register_api  # the JSON API, /api/v1 (docs/api.md)

    register_api(app)
    from . import web

    web.init_app(app)  # catalog and staff blueprints, HTML error pages, security headers


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
