"""Staff sessions that can be ended, API tokens that expire and have scopes, idempotency keys per caller

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00

- ``users.session_token`` (part of every session cookie; a new value ends every session of the
  account) and ``users.disabled_at`` (``flask staff disable``);
- ``api_tokens.expires_at`` and ``api_tokens.scopes``: tokens issued before this revision expire
  90 days after the upgrade and keep every scope, so nothing stops working at once;
- ``idempotency_keys.caller``: the unique key becomes (caller, key); keys stored before this
  revision belong to ``anonymous``. ``created_at`` gets an index: expired keys are purged by age.

batch_alter_table throughout, so that SQLite rebuilds the tables it cannot alter in place.
"""

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
KEY_TYPE = sa.String(length=255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")
ALL_SCOPES = "read orders:write stock:write"
TOKEN_LIFETIME = timedelta(days=90)


def upgrade():
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("session_token", sa.String()))
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", TIMESTAMP, nullable=True))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(
            users.update().where(users.c.id == user_id).values(session_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)

    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime()), sa.column("scopes", sa.String()))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("expires_at", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.String(length=100), nullable=True))
    expiry = datetime.now(UTC).replace(tzinfo=None) + TOKEN_LIFETIME
    op.execute(tokens.update().values(expires_at=expiry, scopes=ALL_SCOPES))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.alter_column("expires_at", existing_type=TIMESTAMP, nullable=False)
        batch_op.alter_column("scopes", existing_type=sa.String(length=100), nullable=False)

    keys = sa.table("idempotency_keys", sa.column("caller", sa.String()))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.add_column(sa.Column("caller", sa.String(length=40), nullable=True))
    op.execute(keys.update().values(caller="anonymous"))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.alter_column("caller", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_idempotency_keys_key"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_idempotency_keys_caller_key"), ["caller", "key"])
        batch_op.create_index(batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False)


def downgrade():
    # Keys of different callers may share a value: only one of each can stay under a global key.
    keys = sa.table("idempotency_keys", sa.column("id", sa.Integer()), sa.column("key", KEY_TYPE))
    bind = op.get_bind()
    kept = [row[0] for row in bind.execute(sa.select(sa.func.min(keys.c.id)).group_by(keys.c.key))]
    bind.execute(keys.delete().where(keys.c.id.not_in(kept)))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))
        batch_op.drop_constraint(batch_op.f("uq_idempotency_keys_caller_key"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_idempotency_keys_key"), ["key"])
        batch_op.drop_column("caller")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("scopes")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("session_token")
