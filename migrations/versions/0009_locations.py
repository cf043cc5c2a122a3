"""Stock in several places: locations, stock and ledger rows per location, allocations of order lines

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00

- ``locations``: code, name, priority, whether it fulfils orders, whether it is active; location
  ``main`` is created and every stock and ledger row moves there;
- ``inventory`` is keyed by (``product_id``, ``location_id``);
- ``inventory_movements.location_id``, ``transfer_id`` (shared by a transfer's two rows) and the
  reasons ``transfer_out`` and ``transfer_in``; the once-only key gains the location;
- ``order_item_allocations``: where each line's stock was taken; every line of an order that took
  stock gets one at ``main``.

Going down folds each product's rows into one again: its stock is the sum over its locations, a
transfer's rows become ``adjustment`` rows (they add up to nothing per product), and an order's rows
of one product and reason at several locations become one row with their sum. The ledger still
reconciles per product.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
CODE = sa.String(length=32).with_variant(mysql.VARCHAR(32, collation="utf8mb4_bin"), "mysql", "mariadb")
OLD_REASONS = (
    "reason IN ('initial_stock', 'order_placed', 'order_cancelled', 'hold_expired', 'restock', 'adjustment')"
)
NEW_REASONS = (
    "reason IN ('initial_stock', 'order_placed', 'order_cancelled', 'hold_expired', 'restock', 'adjustment', "
    "'transfer_out', 'transfer_in')"
)
TRANSFER_HAS_ID = "(transfer_id IS NOT NULL) = (reason IN ('transfer_out', 'transfer_in'))"
MAIN = "main"

locations = sa.table(
    "locations",
    sa.column("id", sa.Integer()),
    sa.column("code", sa.String()),
    sa.column("name", sa.String()),
    sa.column("priority", sa.Integer()),
    sa.column("fulfils_orders", sa.Boolean()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", TIMESTAMP),
)
inventory = sa.table(
    "inventory",
    sa.column("product_id", sa.Integer()),
    sa.column("location_id", sa.Integer()),
    sa.column("quantity", sa.Integer()),
)
ledger = sa.table(
    "inventory_movements",
    sa.column("id", sa.Integer()),
    sa.column("product_id", sa.Integer()),
    sa.column("location_id", sa.Integer()),
    sa.column("order_id", sa.Integer()),
    sa.column("delta", sa.Integer()),
    sa.column("reason", sa.String()),
    sa.column("transfer_id", sa.String()),
)


def _is_mariadb() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def _primary_key(table: str, columns: list[str]) -> None:
    """Replace ``table``'s primary key. MariaDB in one statement: its foreign keys need the key's index."""
    if _is_mariadb():
        op.execute(f"ALTER TABLE {table} DROP PRIMARY KEY, ADD PRIMARY KEY ({', '.join(columns)})")
        return
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", columns)


def _add_location_column(table: str) -> None:
    """``table.location_id``, set to ``main`` on every row, then required and a foreign key."""
    op.add_column(table, sa.Column("location_id", sa.Integer(), nullable=True))
    main = sa.select(locations.c.id).where(locations.c.code == MAIN).scalar_subquery()
    op.execute(sa.table(table, sa.column("location_id")).update().values(location_id=main))
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column("location_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            f"fk_{table}_location_id_locations", "locations", ["location_id"], ["id"], ondelete="RESTRICT"
        )


def upgrade():
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", CODE, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("fulfils_orders", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("code", name=op.f("uq_locations_code")),
    )
    op.execute(
        locations.insert().values(
            code=MAIN,
            name="Main",
            priority=0,
            fulfils_orders=True,
            active=True,
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )
    )

    _add_location_column("inventory")
    _primary_key("inventory", ["product_id", "location_id"])

    _add_location_column("inventory_movements")
    with op.batch_alter_table("inventory_movements") as batch_op:
        batch_op.add_column(
            sa.Column(
                "transfer_id",
                sa.String(length=32).with_variant(
                    mysql.VARCHAR(32, collation="utf8mb4_bin"), "mysql", "mariadb"
                ),
                nullable=True,
            )
        )
        batch_op.drop_constraint(op.f("ck_inventory_movements_reason_valid"), type_="check")
        batch_op.create_check_constraint("reason_valid", NEW_REASONS)
        batch_op.create_check_constraint("transfer_has_id", TRANSFER_HAS_ID)
        # The new key first: on MariaDB the old one is the index of the order_id foreign key until then.
        batch_op.create_unique_constraint(
            op.f("uq_inventory_movements_order_id_product_id_location_id_reason"),
            ["order_id", "product_id", "location_id", "reason"],
        )
        batch_op.drop_constraint(op.f("uq_inventory_movements_order_id_product_id_reason"), type_="unique")

    op.create_table(
        "order_item_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_item_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_item_allocations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_order_item_allocations_location_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_order_item_allocations_order_item_id_order_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_item_allocations")),
        sa.UniqueConstraint(
            "order_item_id", "location_id", name=op.f("uq_order_item_allocations_order_item_id_location_id")
        ),
    )
    # Every line of an order that took stock took it at main, the only place there was.
    op.execute(
        sa.text(
            "INSERT INTO order_item_allocations (order_item_id, location_id, quantity) "
            "SELECT order_items.id, locations.id, order_items.quantity "
            "FROM order_items JOIN orders ON orders.id = order_items.order_id, locations "
            "WHERE orders.stock_committed_at IS NOT NULL AND locations.code = :main "
            "ORDER BY order_items.id"
        ).bindparams(main=MAIN)
    )


def _fold_ledger() -> None:
    """Rows the schema below cannot hold: transfers become adjustments; an order's rows of one product
    and reason at several locations become one (the first, with their sum)."""
    connection = op.get_bind()
    transfers = ledger.c.reason.in_(["transfer_out", "transfer_in"])
    connection.execute(ledger.update().where(transfers).values(reason="adjustment", transfer_id=None))
    key = (ledger.c.order_id, ledger.c.product_id, ledger.c.reason)
    groups = connection.execute(
        sa.select(*key, sa.func.min(ledger.c.id), sa.func.sum(ledger.c.delta))
        .where(ledger.c.order_id.is_not(None))
        .group_by(*key)
        .having(sa.func.count() > 1)
    ).all()
    for order_id, product_id, reason, first, total in groups:
        same = sa.and_(
            ledger.c.order_id == order_id, ledger.c.product_id == product_id, ledger.c.reason == reason
        )
        connection.execute(ledger.delete().where(same, ledger.c.id != first))
        connection.execute(ledger.update().where(ledger.c.id == first).values(delta=total))


def _fold_inventory() -> None:
    """One stock row per product: the sum over its locations, kept on its row with the lowest location id."""
    connection = op.get_bind()
    groups = connection.execute(
        sa.select(
            inventory.c.product_id, sa.func.min(inventory.c.location_id), sa.func.sum(inventory.c.quantity)
        )
        .group_by(inventory.c.product_id)
        .having(sa.func.count() > 1)
    ).all()
    for product_id, first, total in groups:
        of_product = inventory.c.product_id == product_id
        connection.execute(inventory.delete().where(of_product, inventory.c.location_id != first))
        connection.execute(inventory.update().where(of_product).values(quantity=total))


def downgrade():
    # The rows first, so that nothing has changed yet if it fails (MariaDB cannot roll back DDL).
    _fold_ledger()
    _fold_inventory()
    op.drop_table("order_item_allocations")

    with op.batch_alter_table("inventory_movements") as batch_op:
        batch_op.create_unique_constraint(
            op.f("uq_inventory_movements_order_id_product_id_reason"), ["order_id", "product_id", "reason"]
        )
        batch_op.drop_constraint(
            op.f("uq_inventory_movements_order_id_product_id_location_id_reason"), type_="unique"
        )
        batch_op.drop_constraint(op.f("ck_inventory_movements_transfer_has_id"), type_="check")
        batch_op.drop_constraint(op.f("ck_inventory_movements_reason_valid"), type_="check")
        batch_op.create_check_constraint("reason_valid", OLD_REASONS)
        batch_op.drop_column("transfer_id")
        batch_op.drop_constraint(op.f("fk_inventory_movements_location_id_locations"), type_="foreignkey")
        batch_op.drop_column("location_id")

    _primary_key("inventory", ["product_id"])
    with op.batch_alter_table("inventory") as batch_op:
        batch_op.drop_constraint(op.f("fk_inventory_location_id_locations"), type_="foreignkey")
        batch_op.drop_column("location_id")

    op.drop_table("locations")
