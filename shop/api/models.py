"""Tables of the JSON API: staff bearer tokens and idempotency keys (migration 0002)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from ..models import Order, User, utcnow

# MariaDB/MySQL compare strings case-insensitively by default: idempotency keys are case-sensitive.
KEY_TYPE = String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")
# A stored response can be larger than MySQL's 64 KiB TEXT (500 lines with long product names).
BODY_TYPE = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class ApiToken(Model):
    """A staff bearer token. Only the SHA-256 of the token is stored; revoked tokens stay for the record."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id}{' revoked' if self.revoked_at else ''}>"


class IdempotencyKey(Model):
    """The first response to a ``POST /api/v1/orders`` with an ``Idempotency-Key``.

    Inserted, response included, in the same transaction as the order, after it: a request that
    reuses the key fails on the unique index, rolls back what it did and replays this row.
    ``order_id`` becomes NULL if a draft order is deleted; the stored response is still replayed.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(KEY_TYPE, unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(BODY_TYPE)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order | None] = relationship()

    def __repr__(self) -> str:
        return f"<IdempotencyKey {self.key!r} order={self.order_id}>"
