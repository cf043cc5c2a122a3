"""Tables of the JSON API: staff bearer tokens and idempotency keys (migration 0002)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from ..models import Order, User, utcnow

# MariaDB/MySQL compare strings case-insensitively by default: idempotency keys are case-sensitive.
KEY_TYPE = String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")
# A stored response can be larger than MySQL's 64 KiB TEXT (500 lines with long product names).
BODY_TYPE = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

# What a token may do (``flask staff token --scope``); a token gets all of them unless told otherwise.
READ, ORDERS_WRITE, STOCK_WRITE = "read", "orders:write", "stock:write"
WEBHOOKS_WRITE = "webhooks:write"  # manage webhook endpoints
SCOPES = (READ, ORDERS_WRITE, STOCK_WRITE, WEBHOOKS_WRITE)
TOKEN_LIFETIME = timedelta(days=90)


def default_expiry() -> datetime:
    return utcnow() + TOKEN_LIFETIME


class ApiToken(Model):
    """A staff bearer token. Only the SHA-256 of the token is stored; revoked tokens stay for the record.

    It works until ``expires_at`` and only for its ``scopes`` (space-separated, from ``SCOPES``).
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(default=default_expiry)
    scopes: Mapped[str] = mapped_column(String(100), default=" ".join(SCOPES))

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id}{' revoked' if self.revoked_at else ''}>"


class IdempotencyKey(Model):
    """The first response to a ``POST /api/v1/orders`` with an ``Idempotency-Key``.

    A key belongs to its ``caller`` (``token:<id>``, or for strangers ``client:<address>``, IPv6 by
    /64: ``shop.clients``): the same key sent by another caller is another key. Inserted, response
    included, in the same transaction as the order, after it: a request that reuses the key fails on
    the unique index (caller, key), rolls back what it did and replays this row. Keys are forgotten
    24 hours after ``created_at`` (shop.api.idempotency). ``order_id`` becomes NULL if a draft order
    is deleted; the stored response is still replayed.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(KEY_TYPE)
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(BODY_TYPE)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # purged by age

    order: Mapped[Order | None] = relationship()

    def __repr__(self) -> str:
        return f"<IdempotencyKey {self.key!r} order={self.order_id}>"
