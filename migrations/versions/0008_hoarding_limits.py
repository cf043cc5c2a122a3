"""Hoarding limits: the client of each hold, a lock row per client, unpaid holds indexed by status

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00

- ``orders.client_address``: the client (its address, IPv6 by /64) whose hold the order is, kept
  while it is one; indexed with ``hold_expires_at`` to count a client's live holds;
- ``hold_clients``: one row per client that placed a hold, locked while a checkout counts;
- ``ix_orders_status_hold_expires_at`` replaces ``ix_orders_hold_expires_at``: the confirmed orders
  whose hold ran out are one range of it, however many released holds keep their expiry time.

Holds placed before this revision have no client and do not count against anyone's limit. Going
down drops the column (the addresses with it) and the table, and brings the old index back.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f("ix_orders_hold_expires_at"))
        batch_op.create_index("ix_orders_status_hold_expires_at", ["status", "hold_expires_at"], unique=False)
        batch_op.create_index(
            "ix_orders_client_address_hold_expires_at", ["client_address", "hold_expires_at"], unique=False
        )
    op.create_table(
        "hold_clients",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("last_hold_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_hold_clients")),
    )


def downgrade():
    op.drop_table("hold_clients")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_index("ix_orders_client_address_hold_expires_at")
        batch_op.drop_index("ix_orders_status_hold_expires_at")
        batch_op.create_index(batch_op.f("ix_orders_hold_expires_at"), ["hold_expires_at"], unique=False)
        batch_op.drop_column("client_address")
