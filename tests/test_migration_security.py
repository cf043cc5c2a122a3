"""Migration 0005 on a database that already has staff, tokens and idempotency keys, on all three databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from shop.extensions import db
from shop.models import utcnow

USERS = sa.table(
    "users",
    sa.column("id", sa.Integer()),
    sa.column("email", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("is_staff", sa.Boolean()),
    sa.column("created_at", sa.DateTime()),
)
TOKENS = sa.table(
    "api_tokens",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("token_hash", sa.String()),
    sa.column("name", sa.String()),
    sa.column("created_at", sa.DateTime()),
)
KEYS = sa.table(
    "idempotency_keys",
    sa.column("id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("request_hash", sa.String()),
    sa.column("created_at", sa.DateTime()),
)


@pytest.fixture
def app_at_0004(unmigrated_app):
    """An app on a new database migrated to 0004 only, holding two staff users, a token and a key."""
    upgrade(revision="0004")
    now = datetime(2026, 11, 1, 12, 0)
    with db.engine.begin() as conn:
        conn.execute(
            USERS.insert(),
            [
                {
                    "id": 1,
                    "email": "a@example.com",
                    "password_hash": "x",
                    "is_staff": True,
                    "created_at": now,
                },
                {
                    "id": 2,
                    "email": "b@example.com",
                    "password_hash": "x",
                    "is_staff": True,
                    "created_at": now,
                },
            ],
        )
        conn.execute(
            TOKENS.insert(),
            [{"id": 1, "user_id": 1, "token_hash": "0" * 64, "name": "old", "created_at": now}],
        )
        conn.execute(KEYS.insert(), [{"key": "k-1", "request_hash": "0" * 64, "created_at": now}])
    return unmigrated_app


def test_existing_rows_get_session_tokens_an_expiry_all_scopes_and_an_anonymous_owner(app_at_0004):
    upgrade()
    with db.engine.connect() as conn:
        tokens = conn.execute(sa.text("SELECT session_token, disabled_at FROM users ORDER BY id")).all()
        assert len({t for t, _ in tokens}) == 2 and all(len(t) >= 32 for t, _ in tokens)
        assert [d for _, d in tokens] == [None, None]
        tokens_0005 = sa.table("api_tokens", sa.column("expires_at", sa.DateTime()), sa.column("scopes"))
        expires_at, scopes = conn.execute(sa.select(tokens_0005.c.expires_at, tokens_0005.c.scopes)).one()
        assert abs(expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=5)
        assert scopes.split() == ["read", "orders:write", "stock:write"]
        assert conn.execute(sa.text("SELECT caller FROM idempotency_keys")).scalar_one() == "anonymous"


def test_0005_can_be_undone_and_done_again(app_at_0004):
    upgrade()
    keys = sa.table("idempotency_keys", *(sa.column(c.name) for c in KEYS.c), sa.column("caller"))
    with db.engine.begin() as conn:  # the same key of two callers: one of them stays under a global key
        conn.execute(
            keys.insert(),
            {"caller": "token:1", "key": "k-1", "request_hash": "1" * 64, "created_at": utcnow()},
        )
    downgrade(revision="0004")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM idempotency_keys")).scalar_one() == 1
        assert "session_token" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}
    upgrade()
    with db.engine.connect() as conn:
        assert "caller" in {c["name"] for c in sa.inspect(conn).get_columns("idempotency_keys")}
