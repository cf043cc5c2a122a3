"""Holds that expire, payments, per-order limits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00

Adds ``orders.hold_expires_at`` (indexed: the sweeper looks for expired holds),
``products.max_per_order``, the ``hold_expired`` ledger reason and the ``payments`` table.
Going down drops them all again; the ledger rows of released holds stay, as ``order_cancelled``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
EXACT_100 = sa.String(length=100).with_variant(
    mysql.VARCHAR(100, collation="utf8mb4_bin"), "mysql", "mariadb"
)
OLD_REASONS = "reason IN ('initial_stock', 'order_placed', 'order_cancelled', 'restock', 'adjustment')"
NEW_REASONS = (
    "reason IN ('initial_stock', 'order_placed', 'order_cancelled', 'hold_expired', 'restock', 'adjustment')"
)


def upgrade():
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("hold_expires_at", TIMESTAMP, nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_hold_expires_at"), ["hold_expires_at"], unique=False)
    with op.batch_alter_table("products") as batch_op:
        batch_op.add_column(sa.Column("max_per_order", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            "max_per_order_positive", "max_per_order IS NULL OR max_per_order > 0"
        )
    with op.batch_alter_table("inventory_movements") as batch_op:
        batch_op.drop_constraint(op.f("ck_inventory_movements_reason_valid"), type_="check")
        batch_op.create_check_constraint("reason_valid", NEW_REASONS)
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", EXACT_100, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payments_payment_id")),
    )
    with op.batch_alter_table("payments") as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)


def downgrade():
    # Before this revision a cancelled order's stock came back as order_cancelled, the only reason
    # there was for it: released holds keep their ledger rows (and the ledger its sums) under that
    # name. First, so that nothing has changed yet if it fails (MariaDB cannot roll back DDL).
    ledger = sa.table("inventory_movements", sa.column("reason", sa.String()))
    op.execute(ledger.update().where(ledger.c.reason == "hold_expired").values(reason="order_cancelled"))
    with op.batch_alter_table("inventory_movements") as batch_op:
        batch_op.drop_constraint(op.f("ck_inventory_movements_reason_valid"), type_="check")
        batch_op.create_check_constraint("reason_valid", OLD_REASONS)
    op.drop_table("payments")
    with op.batch_alter_table("products") as batch_op:
        batch_op.drop_constraint(op.f("ck_products_max_per_order_positive"), type_="check")
        batch_op.drop_column("max_per_order")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_hold_expires_at"))
        batch_op.drop_column("hold_expires_at")
