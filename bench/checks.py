"""The checks after every row: nothing oversold, the ledger reconciles, the database holds the counted orders."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bench.database import HOT_STOCK, PG_DB, initial_stock, pg_conninfo
from bench.rows import Row

COMMITTED = "o.stock_committed_at IS NOT NULL"  # the shop's orders that took stock
CHECK_SQL_TEMPLATE = """
WITH sold AS (
    SELECT oi.product_id, SUM(oi.quantity) AS units FROM order_items oi JOIN orders o ON o.id = oi.order_id
    WHERE {committed} GROUP BY oi.product_id),
ledger AS (
    SELECT product_id, SUM(delta) AS total,
           SUM(CASE WHEN reason = 'order_placed' THEN -delta ELSE 0 END) AS placed
    FROM inventory_movements GROUP BY product_id)
SELECT i.product_id, i.quantity, COALESCE(s.units, 0), COALESCE(l.total, 0), COALESCE(l.placed, 0)
FROM inventory i LEFT JOIN sold s ON s.product_id = i.product_id LEFT JOIN ledger l ON l.product_id = i.product_id
"""
CHECK_SQL = CHECK_SQL_TEMPLATE.format(committed=COMMITTED)
ORPHANS_SQL = (
    "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS"
    " (SELECT 1 FROM inventory_movements m WHERE m.order_id = o.id)"
)


def judge(
    stock_rows,
    orphans: int,
    order_count: int,
    row: Row,
    orders_placed: int,
    in_flight: int,
    hot_stock: int = HOT_STOCK,
) -> None:
    """Oversell check: on hand + sold == initial, no negative stock, the ledger reconciles."""
    initial = initial_stock(hot_stock)
    oversold = mismatches = 0
    notes = []
    for pid, quantity, sold, ledger_total, ledger_placed in stock_rows:
        start = initial[pid]
        oversold += max(0, sold - start) + max(0, -quantity)
        if quantity + sold != start:
            notes.append(f"product {pid}: on hand {quantity} + sold {sold} != initial {start}")
        if ledger_total != quantity or ledger_placed != sold:
            mismatches += 1
            notes.append(f"product {pid}: ledger {ledger_total} (placed {ledger_placed}) vs stock {quantity}")
        if quantity < 0:
            notes.append(f"product {pid}: negative stock {quantity}")
    if orphans:
        notes.append(f"{orphans} committed orders without ledger rows")
    if not orders_placed <= order_count <= orders_placed + in_flight:
        notes.append(f"{order_count} orders in the database, clients counted {orders_placed}")
    row.oversold = oversold
    row.ledger_mismatches = mismatches
    row.checks_ok = not notes
    row.check_notes = notes[:5]


def check_pg(
    row: Row,
    orders_placed: int,
    in_flight: int = 0,
    *,
    db: str = PG_DB,
    committed: str = COMMITTED,
    hot_stock: int = HOT_STOCK,
) -> None:
    """Run the checks on ``db`` (``shop_bench``) and record their outcome on ``row``.

    ``committed`` is the SQL condition on ``orders o`` for an order that took stock.
    """
    with psycopg.connect(pg_conninfo(db)) as conn:
        stock_rows = conn.execute(CHECK_SQL_TEMPLATE.format(committed=committed)).fetchall()
        orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
        count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    judge(stock_rows, orphans, count, row, orders_placed, in_flight, hot_stock)


def check_sqlite(path: Path, row: Row, orders_placed: int) -> None:
    """Run the checks on the SQLite file at ``path`` and record their outcome on ``row``."""
    conn = sqlite3.connect(path)
    stock_rows = conn.execute(CHECK_SQL).fetchall()
    orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
    count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    conn.close()
    judge(stock_rows, orphans, count, row, orders_placed, 0)
