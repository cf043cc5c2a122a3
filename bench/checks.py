"""The checks after every row: nothing oversold, the ledger reconciles, the database holds the counted orders."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from bench.database import initial_stock, pg_conninfo
from bench.rows import Row

CHECK_SQL = """
WITH sold AS (
    SELECT oi.product_id, SUM(oi.quantity) AS units FROM order_items oi JOIN orders o ON o.id = oi.order_id
    WHERE o.stock_committed_at IS NOT NULL GROUP BY oi.product_id),
ledger AS (
    SELECT product_id, SUM(delta) AS total,
           SUM(CASE WHEN reason = 'order_placed' THEN -delta ELSE 0 END) AS placed
    FROM inventory_movements GROUP BY product_id)
SELECT i.product_id, i.quantity, COALESCE(s.units, 0), COALESCE(l.total, 0), COALESCE(l.placed, 0)
FROM inventory i LEFT JOIN sold s ON s.product_id = i.product_id LEFT JOIN ledger l ON l.product_id = i.product_id
"""
ORPHANS_SQL = (
    "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS"
    " (SELECT 1 FROM inventory_movements m WHERE m.order_id = o.id)"
)


def judge(stock_rows, orphans: int, order_count: int, row: Row, orders_placed: int, in_flight: int) -> None:
    """Oversell check: on hand + sold == initial, no negative stock, the ledger reconciles."""
    initial = initial_stock()
    oversold = 0
    notes = []
    for pid, quantity, sold, ledger_total, ledger_placed in stock_rows:
        start = initial[pid]
        oversold += max(0, sold - start) + max(0, -quantity)
        if quantity + sold != start:
            notes.append(f"product {pid}: on hand {quantity} + sold {sold} != initial {start}")
        if ledger_total != quantity or ledger_placed != sold:
            notes.append(f"product {pid}: ledger {ledger_total} (placed {ledger_placed}) vs stock {quantity}")
        if quantity < 0:
            notes.append(f"product {pid}: negative stock {quantity}")
    if orphans:
        notes.append(f"{orphans} committed orders without ledger rows")
    if not orders_placed <= order_count <= orders_placed + in_flight:
        notes.append(f"{order_count} orders in the database, clients counted {orders_placed}")
    row.oversold = oversold
    row.checks_ok = not notes
    row.check_notes = notes[:5]


def check_pg(row: Row, orders_placed: int, in_flight: int = 0) -> None:
    """Run the checks on ``shop_bench`` and record their outcome on ``row``."""
    with psycopg.connect(pg_conninfo()) as conn:
        stock_rows = conn.execute(CHECK_SQL).fetchall()
        orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
        count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    judge(stock_rows, orphans, count, row, orders_placed, in_flight)


def check_sqlite(path: Path, row: Row, orders_placed: int) -> None:
    """Run the checks on the SQLite file at ``path`` and record their outcome on ``row``."""
    conn = sqlite3.connect(path)
    stock_rows = conn.execute(CHECK_SQL).fetchall()
    orphans = conn.execute(ORPHANS_SQL).fetchone()[0]
    count = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    conn.close()
    judge(stock_rows, orphans, count, row, orders_placed, 0)
