"""Events that leave the shop: the outbox, its deliveries, webhook endpoints and the worker's clock

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00

- ``events``: one row per event, written in the transaction of the change it reports;
  ``position`` (the feed's order) is given after commit by ``shop.outbox.feed.sequence``;
- ``webhook_endpoints``: URL, event types, signing secret, enabled or why not;
- ``event_deliveries``: one per event and target (an endpoint or an e-mail address), with its
  attempts and the last answer;
- ``worker_clock``: what the worker remembers (the feed's last position, the last digest, when a
  worker was last seen).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
PAYLOAD = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def exact(length):
    return sa.String(length=length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", exact(32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject", exact(64), nullable=False),
        sa.Column("payload", PAYLOAD, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("position", name=op.f("uq_events_position")),
    )
    op.create_index(op.f("ix_events_created_at"), "events", ["created_at"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("event_types", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("failing_since", TIMESTAMP, nullable=True),
        sa.Column("notify_staff", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", exact(32), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_answer", sa.String(length=1000), nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_event_deliveries_status_valid")
        ),
        sa.CheckConstraint(
            "(endpoint_id IS NULL) <> (email IS NULL)", name=op.f("ck_event_deliveries_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_event_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_deliveries_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint("event_id", "email", name=op.f("uq_event_deliveries_event_id_email")),
        sa.UniqueConstraint("event_id", "endpoint_id", name=op.f("uq_event_deliveries_event_id_endpoint_id")),
    )
    op.create_index(
        op.f("ix_event_deliveries_endpoint_id"), "event_deliveries", ["endpoint_id"], unique=False
    )
    op.create_index(
        "ix_event_deliveries_status_next_attempt_at",
        "event_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "worker_clock",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_clock")),
    )


def downgrade():
    op.drop_table("worker_clock")
    op.drop_table("event_deliveries")  # its indexes and foreign keys go with it
    op.drop_table("webhook_endpoints")
    op.drop_table("events")
