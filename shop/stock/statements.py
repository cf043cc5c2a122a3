"""The stock service's SQL, built once: SQLAlchemy compiles each statement a single time and caches it."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ScalarSelect, Table, bindparam, insert, select, text
from sqlalchemy.orm import InstrumentedAttribute

from ..models import Inventory, InventoryMovement, Product

INVENTORY = cast(Table, Inventory.__table__)
MOVEMENTS = cast(Table, InventoryMovement.__table__)


def _product_fact(column: InstrumentedAttribute) -> ScalarSelect:
    return select(column).where(Product.id == Inventory.product_id).scalar_subquery()


# Product facts come from scalar subqueries so that only inventory rows are locked: an exclusive
# lock on ``products`` would collide with the shared locks that foreign key checks of concurrent
# order lines take (MariaDB has no ``FOR UPDATE OF``).
LOCK_ROWS = (
    select(
        Inventory.product_id,
        _product_fact(Product.sku),
        _product_fact(Product.status),
        _product_fact(Product.low_stock_threshold),
        Inventory.quantity,
    )
    .where(Inventory.product_id.in_(bindparam("ids", expanding=True)))
    .order_by(Inventory.product_id)
    .with_for_update()
)

READ_ROWS = (
    select(Product.id, Product.sku, Product.status, Product.low_stock_threshold, Inventory.quantity)
    .outerjoin(Inventory)
    .where(Product.id.in_(bindparam("ids", expanding=True)))
)

# Executed with a list of rows, one product each: one statement (SQLAlchemy's "insertmanyvalues")
# that returns each row's id with its product, so the reports can carry their ledger ids.
INSERT_MOVEMENTS = insert(MOVEMENTS).returning(MOVEMENTS.c.id, MOVEMENTS.c.product_id)

# PostgreSQL: lock, guarded update and ledger rows in one statement whatever the number of lines
# (docs/architecture.md, "Why PostgreSQL has its own statement").
#
# ``locked`` takes the row locks in product-id order (no deadlock between orders sharing products)
# and reads each row's stock as it is once locked. ``changed`` guards and computes the new stock
# from that locked stock, never from ``i``: ``i`` is read with the statement's snapshot, which
# predates any change committed while we waited for the lock (a guard on it would refuse an order
# that a restock we waited for can serve, and the CHECK constraint is evaluated on a row computed
# from it before PostgreSQL notices the newer version). Deltas apply only where the guard holds and,
# when ``only_active``, only to active products; ``ledger`` writes one row per changed product with
# the same columns as ``moves.ledger_row`` and returns its id. A product that fails the guard is
# missing from the answer: the caller reports why, and the transaction rolls back with the rows
# already written.
PG_CHANGE_STOCK = text("""WITH locked AS (
    SELECT product_id, quantity FROM inventory
    WHERE product_id = ANY(CAST(:ids AS integer[]))
    ORDER BY product_id
    FOR UPDATE
), changed AS (
    UPDATE inventory AS i
    SET quantity = locked.quantity + d.delta, updated_at = CAST(:now AS timestamp)
    FROM locked
    JOIN unnest(CAST(:ids AS integer[]), CAST(:deltas AS integer[])) AS d (product_id, delta)
        ON d.product_id = locked.product_id
    JOIN products AS p ON p.id = locked.product_id
    WHERE i.product_id = locked.product_id
      AND locked.quantity + d.delta >= 0
      AND (NOT CAST(:only_active AS boolean) OR p.status = 'active')
    RETURNING i.product_id, i.quantity, d.delta, p.sku, p.low_stock_threshold
), ledger AS (
    INSERT INTO inventory_movements (product_id, order_id, delta, quantity_after, reason, actor, note, created_at)
    SELECT product_id, CAST(:order_id AS integer), delta, quantity, CAST(:reason AS varchar),
           CAST(:actor AS varchar), CAST(:note AS varchar), CAST(:now AS timestamp)
    FROM changed
    RETURNING id, product_id
)
SELECT changed.product_id, changed.quantity, changed.sku, changed.low_stock_threshold, ledger.id AS ledger_id
FROM changed JOIN ledger ON ledger.product_id = changed.product_id""")
