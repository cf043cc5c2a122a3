"""Staff bearer tokens: issued by ``flask staff token``, stored as SHA-256, revocable, expiring, scoped.

A request without ``Authorization`` is a customer's. A request with one must carry a live
token of an active staff account, whatever the endpoint: a wrong, revoked, expired or malformed
token, or one of a disabled account, is a 401, never silently ignored. A token of an account that
is no longer staff is a 403. Each staff endpoint names the scope it needs with ``require_scope``
(``read``, ``orders:write``, ``stock:write``); a token without it is a 403 ``insufficient_scope``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import request
from sqlalchemy import select, update

from ..clients import client_address
from ..database import commit_unit_of_work
from ..extensions import DbSession, db
from ..models import User, utcnow
from .models import SCOPES, TOKEN_LIFETIME, ApiToken
from .problems import ApiError

TOKEN_PREFIX = "shop_"
MAX_TOKEN_LENGTH = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute
CHALLENGE = 'Bearer realm="shop"'
_CALLER = "shop.api.caller"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: DbSession,
    user: User,
    name: str,
    *,
    expires_in: timedelta = TOKEN_LIFETIME,
    scopes: Iterable[str] = SCOPES,
) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row (added, not committed) and the token, shown only once."""
    wanted = set(scopes)
    unknown = wanted - set(SCOPES)
    if unknown or not wanted:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(sorted(unknown))}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user,
        token_hash=hash_token(token),
        name=name,
        expires_at=utcnow() + expires_in,
        scopes=" ".join(s for s in SCOPES if s in wanted),
    )
    session.add(row)
    return row, token


@dataclass(frozen=True)
class Caller:
    """Who is calling: a staff member (with a token) or an anonymous customer from ``client``."""

    email: str | None = None
    token_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    client: str | None = None  # an anonymous caller's client (shop.clients): its address, IPv6 by /64

    @property
    def is_staff(self) -> bool:
        return self.email is not None

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        return f"staff:{self.email}" if self.email else "api"

    @property
    def key_owner(self) -> str:
        """Whose idempotency keys these are: the token's, or an anonymous caller's client's.

        A stranger who learns another caller's key and body gets a new order of their own, never the
        first caller's (names and e-mail address included).
        """
        return f"token:{self.token_id}" if self.token_id is not None else f"client:{self.client}"


def _unauthorized(detail: str, error: str | None = "invalid_token") -> ApiError:
    challenge = CHALLENGE + (f', error="{error}"' if error else "")
    return ApiError(401, detail, code="unauthorized", headers={"WWW-Authenticate": challenge})


def authenticate() -> Caller:
    """The caller of this request (cached on the request); raises 401/403 problems for bad tokens."""
    caller = request.environ.get(_CALLER)
    if caller is not None:
        return caller
    caller = request.environ[_CALLER] = _caller()
    return caller


def _caller() -> Caller:
    header = request.headers.get("Authorization")
    if header is None:
        return Caller(client=client_address())
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Use an Authorization: Bearer <token> header.", error="invalid_request")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise _unauthorized("The token is not valid.")
    row = db.session.execute(
        select(
            ApiToken.id,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
            ApiToken.expires_at,
            ApiToken.scopes,
            User.email,
            User.is_staff,
            User.disabled_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise _unauthorized("The token is not valid or has been revoked.")
    if row.expires_at <= now:
        raise _unauthorized(
            f"The token expired at {row.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one (flask staff token)."
        )
    if row.disabled_at is not None:
        raise _unauthorized("The token's account is disabled.")
    if not row.is_staff:
        raise ApiError(403, f"{row.email} is not a staff account.", code="forbidden")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        commit_unit_of_work(
            lambda: db.session.execute(
                update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
            ),
            actor=f"staff:{row.email}",
        )
    return Caller(email=row.email, token_id=row.id, scopes=frozenset(row.scopes.split()))


def is_staff_request() -> bool:
    """The request carries a valid staff token (a bad one raises its 401 problem here)."""
    return authenticate().is_staff


def require_staff() -> Caller:
    caller = authenticate()
    if not caller.is_staff:
        raise _unauthorized("This endpoint needs a staff token: Authorization: Bearer <token>.", error=None)
    return caller


def insufficient_scope(scope: str) -> ApiError:
    return ApiError(
        403,
        f"This needs a token with the scope {scope} (flask staff token EMAIL --scope {scope}).",
        code="insufficient_scope",
        headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
    )


def require_scope(scope: str) -> Caller:
    """The staff caller of this request, if its token has ``scope``: the check of every staff endpoint.

    No token: 401. A token without the scope: 403 ``insufficient_scope`` (RFC 6750), nothing done.
    Call it first thing in a view: ``caller = require_scope(STOCK_WRITE)``.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")
    caller = require_staff()
    if not caller.may(scope):
        raise insufficient_scope(scope)
    return caller
