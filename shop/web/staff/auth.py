"""Who may enter ``/staff``: staff accounts only, with hashed passwords."""

from __future__ import annotations

from functools import cache

from flask import abort, request
from flask_login import current_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ...extensions import db, login_manager
from ...models import User

PUBLIC_ENDPOINTS = {"staff.login"}


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not a real password")


def authenticate(email: str, password: str) -> User | None:
    """The staff user with these credentials, or None.

    An unknown address costs a hash check too, so response times don't reveal which
    addresses have accounts.
    """
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_staff:
        return None
    return user


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
