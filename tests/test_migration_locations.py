"""Migration 0009 (locations) on a shop full of orders, ledger rows and holds made at 0008, on all three databases.

The rows are written with plain SQL the way the shop at 0008 wrote them: products with their stock,
an ``initial_stock`` row each, orders in every status (paid, cancelled, released holds, live and
expired holds, drafts) with their ``order_placed`` and returning rows, restocks and adjustments. Every
figure per product is the same after the upgrade, with every row at location ``main`` and every line
that took stock allocated there; the same after going down again, and after going up once more.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_migrate import downgrade, upgrade

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.holds import release_expired_holds
from shop.orders import find_order
from tests.support.factories import add_place

NOW = datetime(2026, 12, 1, 12, 0, 0)
PRODUCTS = 12
ORDERS = 120


def tables(connection) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return dict(metadata.tables)


def fill_at_0008(seed: int = 7) -> None:
    """Products, orders and ledger rows as the shop at 0008 writes them (its rules kept: stock never below zero,
    the ledger summing to the stock, one row per product and reason per order)."""
    rng = random.Random(seed)
    with db.engine.begin() as connection:
        t = tables(connection)
        stock: dict[int, int] = {}
        ledger: list[dict] = []

        def move(pid: int, delta: int, reason: str, order_id: int | None, at: datetime, actor: str) -> None:
            stock[pid] += delta
            row = {"product_id": pid, "order_id": order_id, "delta": delta, "quantity_after": stock[pid]}
            ledger.append(row | {"reason": reason, "actor": actor, "note": None, "created_at": at})

        for pid in range(1, PRODUCTS + 1):
            connection.execute(
                t["products"]
                .insert()
                .values(
                    id=pid,
                    sku=f"SKU-{pid:02}",
                    name=f"Product {pid}",
                    price_cents=100 * pid,
                    status="active" if pid % 5 else "unavailable",
                    low_stock_threshold=3,
                    max_per_order=None,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            stock[pid] = 0
            if pid != PRODUCTS:  # the last one is not stocked
                move(pid, rng.randint(5, 40), "initial_stock", None, NOW, "seed")
        item_id = 0
        for oid in range(1, ORDERS + 1):
            at = NOW + timedelta(minutes=oid)
            lines = [(rng.randint(1, PRODUCTS - 1), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
            wanted = Counter()
            for pid, quantity in lines:
                wanted[pid] += quantity
            kind = rng.choice(["paid", "paid", "cancelled", "released", "live hold", "expired hold", "draft"])
            takes = kind != "draft" and all(stock[pid] >= n for pid, n in wanted.items())
            status = {"released": "cancelled", "live hold": "confirmed", "expired hold": "confirmed"}.get(
                kind, kind
            )
            if not takes:
                status = "draft"
            hold = None
            if takes and kind in ("released", "live hold", "expired hold"):
                hold = at + (timedelta(days=30) if kind == "live hold" else timedelta(minutes=15))
            connection.execute(
                t["orders"]
                .insert()
                .values(
                    id=oid,
                    number=f"ORDER-{oid:04}",
                    status=status,
                    customer_name="Ada",
                    customer_email="ada@example.com",
                    stock_committed_at=at if takes else None,
                    hold_expires_at=hold,
                    created_at=at,
                    updated_at=at,
                )
            )
            for pid, quantity in lines:
                item_id += 1
                connection.execute(
                    t["order_items"]
                    .insert()
                    .values(
                        id=item_id,
                        order_id=oid,
                        product_id=pid,
                        quantity=quantity,
                        unit_price_cents=100 * pid,
                    )
                )
            if takes:
                for pid, n in sorted(wanted.items()):
                    move(pid, -n, "order_placed", oid, at, "customer")
                if status == "cancelled":
                    reason = "hold_expired" if kind == "released" else "order_cancelled"
                    for pid, n in sorted(wanted.items()):
                        move(pid, n, reason, oid, at + timedelta(minutes=20), "system")
            if oid % 10 == 0:  # a restock or a count now and then
                pid = rng.randint(1, PRODUCTS - 1)
                delta = rng.choice([5, 10, -1]) if stock[pid] else 7
                move(pid, delta, "restock" if delta > 0 else "adjustment", None, at, "staff")
        for pid, quantity in stock.items():
            if pid != PRODUCTS:
                connection.execute(
                    t["inventory"].insert().values(product_id=pid, quantity=quantity, updated_at=NOW)
                )
        connection.execute(t["inventory_movements"].insert(), [row for row in ledger if row["delta"]])
        if connection.dialect.name == "postgresql":  # ids given above: the sequences go on after them
            for table in ("products", "orders", "order_items"):
                connection.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")
                )


def figures() -> dict[str, dict]:
    """Every figure per product (and per order) that the upgrade and the downgrade must keep."""
    with db.engine.connect() as connection:
        run = connection.execute
        return {
            "on_hand": dict(
                run(sa.text("SELECT product_id, SUM(quantity) FROM inventory GROUP BY product_id")).all()
            ),
            "ledger": dict(
                run(
                    sa.text("SELECT product_id, SUM(delta) FROM inventory_movements GROUP BY product_id")
                ).all()
            ),
            "rows": Counter(
                {
                    (pid, reason): n
                    for pid, reason, n in run(
                        sa.text(
                            "SELECT product_id, reason, COUNT(*) FROM inventory_movements GROUP BY product_id, reason"
                        )
                    )
                }
            ),
            "moved": {
                (pid, reason): int(total)
                for pid, reason, total in run(
                    sa.text(
                        "SELECT product_id, reason, SUM(delta) FROM inventory_movements GROUP BY product_id, reason"
                    )
                )
            },
            "held": dict(
                run(
                    sa.text(
                        "SELECT i.product_id, SUM(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id "
                        "WHERE o.status = 'confirmed' GROUP BY i.product_id"
                    )
                ).all()
            ),
            "orders": dict(run(sa.text("SELECT number, status FROM orders")).all()),
        }


def normalized(found: dict[str, dict]) -> dict[str, dict]:
    """Sums as integers (MariaDB answers DECIMALs)."""
    return {
        name: {key: int(value) for key, value in part.items()} if name != "orders" else part
        for name, part in found.items()
    }


@pytest.fixture
def shop_at_0008(unmigrated_app):
    upgrade(revision="0008")
    fill_at_0008()
    return unmigrated_app


def test_every_figure_per_product_survives_the_upgrade_and_every_row_is_at_main(shop_at_0008):
    before = normalized(figures())
    assert before["moved"].get((1, "order_placed")) and any(r == "hold_expired" for _, r in before["rows"])
    upgrade()
    assert normalized(figures()) == before
    with db.engine.connect() as connection:
        run = connection.execute
        assert run(sa.text("SELECT code, name, priority, fulfils_orders, active FROM locations")).all() == [
            ("main", "Main", 0, True, True)
        ]
        main = run(sa.text("SELECT id FROM locations WHERE code = 'main'")).scalar_one()
        assert run(sa.text("SELECT DISTINCT location_id FROM inventory")).scalars().all() == [main]
        assert run(sa.text("SELECT DISTINCT location_id FROM inventory_movements")).scalars().all() == [main]
        # every line of an order that took stock has its allocation at main, for all of it; no other line has one
        allocated = dict(run(sa.text("SELECT order_item_id, quantity FROM order_item_allocations")).all())
        committed = dict(
            run(
                sa.text(
                    "SELECT i.id, i.quantity FROM order_items i JOIN orders o ON o.id = i.order_id "
                    "WHERE o.stock_committed_at IS NOT NULL"
                )
            ).all()
        )
        assert allocated == committed and len(committed) > ORDERS // 2
    assert current_app.test_cli_runner().invoke(args=["inventory", "reconcile"]).exit_code == 0


def test_the_upgraded_shop_returns_old_orders_and_releases_old_holds_to_main(shop_at_0008):
    upgrade()
    add_place(db.session, "floor", priority=1)  # a second place: nothing may go back there
    before = normalized(figures())
    expired = [n for n, s in before["orders"].items() if s == "confirmed"]
    released = release_expired_holds(now=NOW + timedelta(days=1))
    assert 0 < released.orders < len(expired)  # the live holds (30 days) stay
    paid = next(number for number, status in before["orders"].items() if status == "paid")

    def cancel():
        from shop.orders import change_status

        change_status(db.session, find_order(db.session, paid), "cancelled", actor="test")

    commit_unit_of_work(cancel, actor="test")
    with db.engine.connect() as connection:
        places = connection.execute(
            sa.text(
                "SELECT DISTINCT l.code FROM inventory_movements m JOIN locations l ON l.id = m.location_id"
            )
        ).scalars()
        assert set(places) == {"main"}
    assert current_app.test_cli_runner().invoke(args=["inventory", "reconcile"]).exit_code == 0


def test_down_and_up_again_every_figure_per_product_stays(shop_at_0008):
    before = normalized(figures())
    upgrade()
    downgrade(revision="0008")
    assert normalized(figures()) == before
    upgrade()
    assert normalized(figures()) == before
    assert current_app.test_cli_runner().invoke(args=["inventory", "reconcile"]).exit_code == 0


def test_going_down_folds_stock_kept_in_several_places_into_one_row_per_product(shop_at_0008):
    """Transfers and an order split over two places fold into what 0008 can hold; the ledger still sums up."""
    upgrade()
    runner = current_app.test_cli_runner()
    assert (
        runner.invoke(args=["locations", "add", "floor", "--name", "Shop floor", "--priority", "1"]).exit_code
        == 0
    )
    for sku in ("SKU-01", "SKU-02", "SKU-03"):
        result = runner.invoke(args=["inventory", "transfer", sku, "1", "--from", "main", "--to", "floor"])
        assert result.exit_code == 0, result.output
    with db.engine.connect() as connection:
        at_main = connection.execute(
            sa.text(
                "SELECT quantity FROM inventory i JOIN locations l ON l.id = i.location_id "
                "WHERE i.product_id = 1 AND l.code = 'main'"
            )
        ).scalar_one()
    assert at_main > 0
    # one more than main has: 'at_main' from main and 1 from the floor
    result = runner.invoke(args=["orders", "place", "--item", f"SKU-01:{at_main + 1}", "--status", "paid"])
    assert result.exit_code == 0, result.output
    placed = [r for r in figures()["rows"].elements() if r == (1, "order_placed")]
    on_hand = normalized(figures())["on_hand"]
    db.session.remove()  # the commands' reads end, so that the tables can be altered

    downgrade(revision="0008")
    after = normalized(figures())
    assert after["on_hand"] == on_hand and after["on_hand"] == after["ledger"]
    assert not any(reason.startswith("transfer") for _, reason in after["rows"])
    assert after["rows"][1, "order_placed"] == len(placed) - 1  # the split order's two rows are one
    upgrade()
    assert normalized(figures())["on_hand"] == on_hand
    assert runner.invoke(args=["inventory", "reconcile"]).exit_code == 0
