"""Rate limits (Flask-Limiter): anonymous checkouts and staff log-in attempts, per client address.

The limits are read from the configuration at request time (``SHOP_CHECKOUT_RATE_LIMIT``,
``SHOP_LOGIN_RATE_LIMIT``); counts live in ``RATELIMIT_STORAGE_URI`` (``memory://`` in one
process, ``redis://…`` shared by every gunicorn worker). A request over a limit is refused
before its view runs (429 with ``Retry-After``): nothing is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)

CHECKOUT_MESSAGE = "Too many orders from your address in a short time. Please wait a minute and try again."
LOGIN_MESSAGE = "Too many log-in attempts. Please wait a minute and try again."


def checkout_limit() -> str:
    return current_app.config["SHOP_CHECKOUT_RATE_LIMIT"]


def login_limit() -> str:
    return current_app.config["SHOP_LOGIN_RATE_LIMIT"]


def login_email() -> str:
    """The e-mail address a log-in attempt is for: attempts on one account count together."""
    return "login-email:" + request.form.get("email", "").strip().lower()[:254]


def retry_after() -> str:
    """Seconds until the breached limit lets this client through again (a 429's ``Retry-After``)."""
    current = limiter.current_limit
    if current is None:
        return "60"
    reset_time, _ = current.window
    return str(max(1, math.ceil(reset_time - time.time())))


def limit_checkout_unless(exempt: Callable[[], bool] | None = None):
    """The checkout limit, as a view decorator; requests for which ``exempt()`` is true are not counted.

    Every checkout view shares one count per address, whatever its blueprint. The API passes
    its own exemption (staff tokens), so that this module knows nothing of the API.
    """
    return limiter.shared_limit(
        checkout_limit, "checkout", methods=["POST"], exempt_when=exempt, error_message=CHECKOUT_MESSAGE
    )


# Decorators for the views; a view may carry several (each counts separately).
limit_checkout = limit_checkout_unless()
limit_login_per_address = limiter.limit(login_limit, methods=["POST"], error_message=LOGIN_MESSAGE)
limit_login_per_email = limiter.limit(
    login_limit, methods=["POST"], key_func=login_email, error_message=LOGIN_MESSAGE
)
