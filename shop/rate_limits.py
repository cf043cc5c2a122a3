"""Rate limits (Flask-Limiter): anonymous checkouts and staff log-in attempts, per client.

The client is its address, IPv6 by /64 (``shop.clients``). Log-in attempts count per client at
``SHOP_LOGIN_RATE_LIMIT``, and per e-mail address from every client only at the far higher
``SHOP_LOGIN_ACCOUNT_LIMIT``: a few wrong passwords from anywhere must not lock a staff member out
(the right password from another address still works), while thousands spread over many
addresses still stop, and the account's owner is told (``shop.web.staff.auth``).

The limits are read from the configuration at request time (``SHOP_CHECKOUT_RATE_LIMIT``,
``SHOP_LOGIN_RATE_LIMIT``, ``SHOP_LOGIN_ACCOUNT_LIMIT``); counts live in ``RATELIMIT_STORAGE_URI``
(``memory://`` in one process, ``redis://…`` shared by every gunicorn worker). A request over a
limit is refused before its view runs (429 with ``Retry-After``): nothing is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import current_app, request
from flask_limiter import Limiter, RequestLimit

from .clients import client_address

limiter = Limiter(key_func=client_address)

CHECKOUT_MESSAGE = "Too many orders from your address in a short time. Please wait a minute and try again."
LOGIN_MESSAGE = "Too many log-in attempts. Please wait a minute and try again."


def checkout_limit() -> str:
    return current_app.config["SHOP_CHECKOUT_RATE_LIMIT"]


def login_limit() -> str:
    return current_app.config["SHOP_LOGIN_RATE_LIMIT"]


def login_account_limit() -> str:
    return current_app.config["SHOP_LOGIN_ACCOUNT_LIMIT"]


def login_email() -> str:
    """The e-mail address a log-in attempt is for, as the log-in form reads it (``auth.authenticate``)."""
    return request.form.get("email", "").strip().lower()[:254]


def login_account() -> str:
    """The key of a log-in attempt's account: attempts on one account from every address count together."""
    return "login-email:" + login_email()


def first_breach_in_window(breached: RequestLimit) -> bool:
    """True for the first request refused by ``breached`` in its window, False for every later one.

    Counted in the limiter's own storage (``RATELIMIT_STORAGE_URI``), so gunicorn workers sharing
    Redis agree: whatever reacts to a breach (a log line, an e-mail) happens once per window. The
    marker expires with the window, a second late: Redis tells the reset time to the second, so two
    requests of one window may read reset times a second apart (they named two markers when the key
    held the reset time, and the owner got two e-mails).
    """
    seconds = max(1, math.ceil(breached.reset_at - time.time())) + 1
    return limiter.storage.incr(f"{breached.key}/breached", seconds) == 1


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


def limit_login_per_account(on_breach: Callable[[RequestLimit], None]):
    """The log-in limit of one account from every address, as a view decorator.

    ``on_breach`` runs for each attempt refused by it (``first_breach_in_window`` tells the first);
    the staff blueprint passes what tells the account's owner, so that this module knows nothing of it.
    """
    return limiter.limit(
        login_account_limit,
        methods=["POST"],
        key_func=login_account,
        error_message=LOGIN_MESSAGE,
        on_breach=on_breach,
    )


# Decorators for the views; a view may carry several (each counts separately).
limit_checkout = limit_checkout_unless()
limit_login_per_address = limiter.limit(login_limit, methods=["POST"], error_message=LOGIN_MESSAGE)
