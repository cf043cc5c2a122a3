"""Who may enter ``/staff``: staff accounts only, with argon2id passwords and sessions that can end.

A session cookie names the account *and* its current ``session_token`` (``User.get_id``, the
"alternative token" of Flask-Login's documentation). Log-out, a new password and ``flask staff
disable`` give the account a new token, so every cookie issued before (a copy an attacker kept
included) no longer loads a user: the staff pages answer it with a redirect to the log-in page.
A session also ends ``SHOP_SESSION_HOURS`` after its log-in, however busy it has been
(``PERMANENT_SESSION_LIFETIME``; Flask's cookie loader refuses an older signature too).
"""

from __future__ import annotations

import hmac
import logging
import smtplib
import time
from datetime import UTC, datetime

from flask import abort, current_app, request, session
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select, update

from ...database import commit_unit_of_work
from ...extensions import db, login_manager
from ...models import User, new_session_token
from ...outbox import mail
from ...passwords import hash_password, verify_password, waste_a_check
from ...rate_limits import first_breach_in_window, login_email

PUBLIC_ENDPOINTS = {"staff.login"}
LOGGED_IN_AT = "_logged_in_at"  # session key: when this session's log-in happened (Unix seconds)

# Failed log-ins, with the client address and the e-mail address tried (never the password), and
# other account events: an operator routes this logger wherever attacks should be seen.
security_log = logging.getLogger("shop.security")


def authenticate(email: str, password: str) -> User | None:
    """The staff user with these credentials, or None; a failure is logged on ``shop.security``.

    An unknown address costs a hash check too, so response times don't reveal which addresses
    have accounts. A hash made before argon2id (or with weaker parameters) is replaced by one made
    now, as the password is known.
    """
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        waste_a_check(password)
        _refused(email, "no such account")
        return None
    verified = verify_password(user.password_hash, password)
    if not verified.ok:
        _refused(email, "wrong password")
        return None
    if not user.is_staff:
        _refused(email, "not a staff account")
        return None
    if not user.is_active:
        _refused(email, "account disabled")
        return None
    if verified.needs_rehash:
        _upgrade_hash(user, password)
    return user


def _refused(email: str, reason: str) -> None:
    security_log.warning(
        "Failed staff log-in for %r from %s: %s.", email, request.remote_addr or "an unknown address", reason
    )


def tell_account_owner(breached: RequestLimit) -> None:
    """``SHOP_LOGIN_ACCOUNT_LIMIT`` refused a log-in: once per window, log it and e-mail the account's owner.

    The owner of an active account hears of it by e-mail (``email/login_limit``); an address with no
    account gets no e-mail, so that nobody can make the shop write to strangers. A mail server that
    fails is logged: the refusal (429) stands either way.
    """
    if not first_breach_in_window(breached):
        return
    email = login_email()
    until = datetime.fromtimestamp(breached.reset_at, UTC)
    security_log.warning(
        "Log-in attempts for %r from every address reached SHOP_LOGIN_ACCOUNT_LIMIT (%s): refused until "
        "%s UTC; the last came from %s.",
        email,
        breached.limit,
        f"{until:%Y-%m-%d %H:%M}",
        request.remote_addr or "an unknown address",
    )
    owner = db.session.scalar(select(User.email).where(User.email == email, User.disabled_at.is_(None)))
    if owner is None:
        return
    message = mail.message(
        "login_limit",
        [owner],
        "Too many log-in attempts on your staff account",
        email=owner,
        limit=str(breached.limit),
        until=f"{until:%H:%M} UTC on {until:%Y-%m-%d}",
    )
    try:
        mail.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        security_log.error("Could not e-mail %s about the log-in attempts: %s", owner, exc)


def _upgrade_hash(user: User, password: str) -> None:
    old, new = user.password_hash, hash_password(password)

    def work() -> None:  # unless the password changed meanwhile
        db.session.execute(
            update(User).where(User.id == user.id, User.password_hash == old).values(password_hash=new)
        )

    commit_unit_of_work(work, actor=f"staff:{user.email}")
    security_log.info("Password hash of %s upgraded to argon2id.", user.email)


def start_session(user: User) -> None:
    """Log ``user`` in on a new, empty session: nothing from before the log-in survives it."""
    session.clear()
    login_user(user)
    session.permanent = True  # the browser drops the cookie after SHOP_SESSION_HOURS too
    session[LOGGED_IN_AT] = int(time.time())
    security_log.info("Staff log-in of %s from %s.", user.email, request.remote_addr)


def end_session() -> None:
    """Log out, and end every other session of the account with it (a new session token)."""
    if current_user.is_authenticated:
        user_id = current_user.id
        commit_unit_of_work(
            lambda: db.session.execute(
                update(User).where(User.id == user_id).values(session_token=new_session_token())
            ),
            actor=staff_actor(),
        )
    logout_user()
    session.clear()


def load_user(user_id: str) -> User | None:
    """The user of a session cookie, if the cookie is still good: Flask-Login's ``user_loader``.

    Good means: an active staff account whose current session token is the cookie's, and a log-in
    less than ``SHOP_SESSION_HOURS`` ago.
    """
    number, _, token = user_id.partition(":")
    if not number.isdigit() or not token:
        return None
    user = db.session.get(User, int(number))
    if user is None or not hmac.compare_digest(token.encode(), user.session_token.encode()):
        return None
    if not user.is_staff or not user.is_active or _expired():
        return None
    return user


def _expired() -> bool:
    logged_in_at = session.get(LOGGED_IN_AT)
    if not isinstance(logged_in_at, int):
        return True
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return time.time() - logged_in_at > lifetime


def staff_actor() -> str:
    """The ledger's ``actor`` for the logged-in staff member."""
    return f"staff:{current_user.email}"


def require_staff():
    """``before_request`` of the staff blueprint: log in first; only staff get in."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not getattr(current_user, "is_staff", False):
        abort(403)
    return None
