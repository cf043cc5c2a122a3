"""MariaDB/MySQL: microsecond timestamps, and SKUs, order numbers and e-mails compared exactly

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:00:00

PostgreSQL and SQLite already keep microseconds and compare strings byte for byte, so
this revision changes nothing there.
"""

from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table -> [(column, nullable)]
TIMESTAMPS = {
    "products": [("created_at", False), ("updated_at", False)],
    "inventory": [("updated_at", False)],
    "orders": [("stock_committed_at", True), ("created_at", False), ("updated_at", False)],
    "inventory_movements": [("created_at", False)],
    "users": [("created_at", False)],
    "api_tokens": [("created_at", False), ("revoked_at", True), ("last_used_at", True)],
    "idempotency_keys": [("created_at", False)],
}
EXACT_STRINGS = [("products", "sku", 64), ("orders", "number", 32), ("users", "email", 254)]


def _is_mysql():
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if not _is_mysql():
        return
    for table, columns in TIMESTAMPS.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=mysql.DATETIME(fsp=6), existing_nullable=nullable)
    for table, column, length in EXACT_STRINGS:
        op.alter_column(
            table, column, type_=mysql.VARCHAR(length, collation="utf8mb4_bin"), existing_nullable=False
        )


def downgrade():
    if not _is_mysql():
        return
    for table, column, length in EXACT_STRINGS:
        op.alter_column(table, column, type_=mysql.VARCHAR(length), existing_nullable=False)
    for table, columns in TIMESTAMPS.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=mysql.DATETIME(), existing_nullable=nullable)
