"""The stock service's SQL, built once: SQLAlchemy compiles each statement a single time and caches it."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ScalarSelect, Table, bindparam, func, insert, select, text
from sqlalchemy.orm import InstrumentedAttribute

from ..models import Inventory, InventoryMovement, Location, OrderItem, OrderItemAllocation, Product

INVENTORY = cast(Table, Inventory.__table__)
MOVEMENTS = cast(Table, InventoryMovement.__table__)
ALLOCATIONS = cast(Table, OrderItemAllocation.__table__)


def _product_fact(column: InstrumentedAttribute) -> ScalarSelect:
    return select(column).where(Product.id == Inventory.product_id).scalar_subquery()


def _location_fact(column) -> ScalarSelect:
    return select(column).where(Location.id == Inventory.location_id).scalar_subquery()


# Every inventory row of some products, in (product, location) order, with what the rules need of
# its product and its location. Those facts come from scalar subqueries so that only inventory rows
# are locked: an exclusive lock on ``products`` would collide with the shared locks that foreign key
# checks of concurrent order lines take, one on ``locations`` with those of every ledger row
# (MariaDB has no ``FOR UPDATE OF``).
LOCATED_ROWS = (
    select(
        Inventory.product_id,
        Inventory.location_id,
        Inventory.quantity,
        _product_fact(Product.sku),
        _product_fact(Product.status),
        _product_fact(Product.low_stock_threshold),
        _location_fact(Location.code),
        _location_fact(Location.priority),
        _location_fact(Location.active & Location.fulfils_orders),
    )
    .where(Inventory.product_id.in_(bindparam("ids", expanding=True)))
    .order_by(Inventory.product_id, Inventory.location_id)
)
# MariaDB/MySQL: read inventory rows through its primary key (product, location), whatever the optimizer
# thinks of a small table. It chose a full scan for the guarded update of a few products' rows, which
# could wait on rows of other products that other units of work held, out of (product, location) order:
# a checkout and a cancellation deadlocked. With the hint, a change reads no rows but those it locked.
BY_KEY_ONLY = "FORCE INDEX (PRIMARY)"

# The same rows locked: every location of every product of a change, one statement, in that order.
LOCK_ROWS = LOCATED_ROWS.with_for_update().with_hint(INVENTORY, BY_KEY_ONLY, dialect_name="mysql")

# Products with their ``on_hand``, without locks (for reporting, and for products with no row).
READ_ROWS = select(
    Product.id, Product.sku, Product.status, Product.low_stock_threshold, Product.on_hand
).where(Product.id.in_(bindparam("ids", expanding=True)))

# What an order took, per (product, location): what cancelling it gives back.
ALLOCATED = (
    select(OrderItem.product_id, OrderItemAllocation.location_id, func.sum(OrderItemAllocation.quantity))
    .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
    .where(OrderItem.order_id == bindparam("order_id"))
    .group_by(OrderItem.product_id, OrderItemAllocation.location_id)
)

# Executed with a list of rows, one (product, location) each: one statement (SQLAlchemy's
# "insertmanyvalues") that returns each row's id with its key, so the reports carry their ledger ids.
INSERT_MOVEMENTS = insert(MOVEMENTS).returning(
    MOVEMENTS.c.id, MOVEMENTS.c.product_id, MOVEMENTS.c.location_id
)
INSERT_ALLOCATIONS = insert(ALLOCATIONS)

# PostgreSQL: lock, guarded update, ledger rows and allocations in one statement whatever the number
# of lines and locations (docs/architecture.md, "Why PostgreSQL has its own statement").
#
# ``locked`` takes the row locks of every location of the products, in (product, location) order (no
# deadlock between changes sharing products), and reads each row's stock as it is once locked. The
# changes compute the new stock from that locked stock, never from ``inventory``'s own columns:
# those are read with the statement's snapshot, which predates any change committed while we
# waited for the lock (a guard on them would refuse an order that a restock we waited for can
# serve). The answer is every locked row as it was before the statement, with its product's and
# location's facts, and the ledger id of the rows it changed: the caller builds its reports, or
# judges what went wrong, from that without reading again.
_LOCKED = """WITH locked AS (
    SELECT product_id, location_id, quantity FROM inventory
    WHERE product_id = ANY(CAST(:ids AS integer[]))
    ORDER BY product_id, location_id
    FOR UPDATE
)"""
_LEDGER = """ledger AS (
    INSERT INTO inventory_movements
        (product_id, location_id, order_id, delta, quantity_after, reason, actor, note, created_at)
    SELECT product_id, location_id, CAST(:order_id AS integer), delta, quantity, CAST(:reason AS varchar),
           CAST(:actor AS varchar), CAST(:note AS varchar), CAST(:now AS timestamp)
    FROM changed
    RETURNING id, product_id, location_id
)"""
_ANSWER = """SELECT locked.product_id, locked.location_id, locked.quantity, p.sku, p.status, p.low_stock_threshold,
       l.code, l.priority, l.active AND l.fulfils_orders AS serves, ledger.id AS ledger_id
FROM locked
JOIN products AS p ON p.id = locked.product_id
JOIN locations AS l ON l.id = locked.location_id
LEFT JOIN ledger ON ledger.product_id = locked.product_id AND ledger.location_id = locked.location_id
ORDER BY locked.product_id, locked.location_id"""

# Taking an order's stock, the common case: ``chosen`` is the first active location that fulfils
# orders, by (priority, code), whose locked rows have every (active) product's whole quantity; the
# order is taken there, each line allocated to it. If there is none (a shortage, or no single place
# has it all), nothing changes and the caller judges and allocates from the answer, the rows still
# locked (``moves.take_in_one_statement``). The aggregate reads every locked row before anything is
# chosen.
PG_TAKE_STOCK = text(
    _LOCKED
    + """, wanted AS (
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:quantities AS integer[])) AS w (product_id, quantity)
), chosen AS (
    SELECT l.id FROM locked
    JOIN wanted ON wanted.product_id = locked.product_id AND locked.quantity >= wanted.quantity
    JOIN locations AS l ON l.id = locked.location_id AND l.active AND l.fulfils_orders
    JOIN products AS p ON p.id = locked.product_id AND p.status = 'active'
    GROUP BY l.id, l.priority, l.code
    HAVING count(*) = cardinality(CAST(:ids AS integer[]))
    ORDER BY l.priority, l.code
    LIMIT 1
), changed AS (
    UPDATE inventory AS i
    SET quantity = locked.quantity - wanted.quantity, updated_at = CAST(:now AS timestamp)
    FROM locked
    JOIN wanted ON wanted.product_id = locked.product_id
    JOIN chosen ON chosen.id = locked.location_id
    WHERE i.product_id = locked.product_id AND i.location_id = locked.location_id
    RETURNING i.product_id, i.location_id, i.quantity, -wanted.quantity AS delta
), """
    + _LEDGER
    + """, allocated AS (
    INSERT INTO order_item_allocations (order_item_id, location_id, quantity)
    SELECT line.item_id, chosen.id, line.quantity
    FROM chosen, unnest(CAST(:item_ids AS integer[]), CAST(:item_quantities AS integer[])) AS line (item_id, quantity)
)
"""
    + _ANSWER
)

# Any change of given (product, location) rows, with the allocations of an order if it takes stock:
# deltas apply only where the stock stays at or above zero; a key missing from the answer's ledger ids
# was refused (or has no row), and the caller reports why and rolls back.
PG_CHANGE_STOCK = text(
    _LOCKED
    + """, changes AS (
    SELECT * FROM unnest(CAST(:products AS integer[]), CAST(:locations AS integer[]), CAST(:deltas AS integer[]))
        AS c (product_id, location_id, delta)
), changed AS (
    UPDATE inventory AS i
    SET quantity = locked.quantity + changes.delta, updated_at = CAST(:now AS timestamp)
    FROM locked
    JOIN changes ON changes.product_id = locked.product_id AND changes.location_id = locked.location_id
    WHERE i.product_id = locked.product_id AND i.location_id = locked.location_id
      AND locked.quantity + changes.delta >= 0
    RETURNING i.product_id, i.location_id, i.quantity, changes.delta
), """
    + _LEDGER
    + """, allocated AS (
    INSERT INTO order_item_allocations (order_item_id, location_id, quantity)
    SELECT * FROM unnest(
        CAST(:item_ids AS integer[]), CAST(:item_locations AS integer[]), CAST(:item_quantities AS integer[])
    )
)
"""
    + _ANSWER
)
