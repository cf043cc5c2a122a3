"""Migration 0010 (the units an e-mail holds) on a shop with a live hold made at 0009, on all three databases.

At 0009 a hold is kept with its address only; its rows are written with plain SQL the way the shop
at 0009 wrote them. After the upgrade that hold counts against its address and not against its
e-mail (it has no e-mail key); new holds count against both. Going down drops the keys and the
e-mails' lock rows (which would not fit the narrower column) and keeps every order; going up again
works as the first time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_migrate import downgrade, upgrade

from shop.clients import email_key
from shop.errors import InventoryError
from shop.extensions import db
from shop.hoarding import CustomerLimits, place_customer_order
from shop.holds import hold_until
from shop.models import utcnow

OLD = "203.0.113.7"  # the address of the hold placed at 0009
ADA = "ada@example.com"  # its e-mail


def tables(connection) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return dict(metadata.tables)


def fill_at_0009() -> None:
    """TEA and CUP, 50 each at main; a live hold of 15 TEA from ``OLD`` by ``ADA``, as 0009 keeps it."""
    now = utcnow().replace(microsecond=0)
    with db.engine.begin() as connection:
        t = tables(connection)
        main = connection.scalar(sa.select(t["locations"].c.id).where(t["locations"].c.code == "main"))
        for pid, sku, left in ((1, "TEA", 35), (2, "CUP", 50)):
            product = {"id": pid, "sku": sku, "name": sku.title(), "price_cents": 500, "status": "active"}
            connection.execute(
                t["products"]
                .insert()
                .values(**product, low_stock_threshold=3, created_at=now, updated_at=now)
            )
            connection.execute(
                t["inventory"]
                .insert()
                .values(product_id=pid, location_id=main, quantity=left, updated_at=now)
            )
        order = {"id": 1, "number": "ORDER-0001", "status": "confirmed", "customer_name": "Ada"}
        connection.execute(
            t["orders"]
            .insert()
            .values(
                **order,
                customer_email=ADA,
                stock_committed_at=now,
                hold_expires_at=now + timedelta(minutes=15),
                client_address=OLD,
                created_at=now,
                updated_at=now,
            )
        )
        line = {"id": 1, "order_id": 1, "product_id": 1, "quantity": 15, "unit_price_cents": 500}
        connection.execute(t["order_items"].insert().values(**line))
        connection.execute(
            t["order_item_allocations"].insert().values(id=1, order_item_id=1, location_id=main, quantity=15)
        )
        connection.execute(
            t["inventory_movements"].insert(),
            [
                {"product_id": pid, "order_id": order_id, "delta": delta, "quantity_after": after}
                | {"reason": reason, "actor": "seed", "location_id": main, "created_at": now}
                for pid, order_id, delta, after, reason in (
                    (1, None, 50, 50, "initial_stock"),
                    (2, None, 50, 50, "initial_stock"),
                    (1, 1, -15, 35, "order_placed"),
                )
            ],
        )
        connection.execute(t["hold_clients"].insert().values(client=OLD, last_hold_at=now))
        if connection.dialect.name == "postgresql":  # ids given above: the sequences go on after them
            for table in ("products", "orders", "order_items", "order_item_allocations"):
                connection.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")
                )


@pytest.fixture
def shop_at_0009(unmigrated_app):
    upgrade(revision="0009")
    fill_at_0009()
    return unmigrated_app


def hold(sku: str, units: int, *, address: str, email: str) -> str:
    """A customer's hold at the shop's limits: "placed" (committed), or the codes of its problems."""
    limits = CustomerLimits(address, max_per_order=20, max_held_units=20)
    try:
        place_customer_order(
            db.session,
            [(sku, units)],
            limits=limits,
            status="confirmed",
            customer_name="Someone",
            customer_email=email,
            hold_until=hold_until(),
        )
    except InventoryError as exc:
        db.session.rollback()
        return ",".join(p.code for p in exc.problems)
    db.session.commit()
    return "placed"


def rows(query: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def test_up_down_and_up_again_with_live_holds(shop_at_0009):
    db.session.info["actor"] = "test"
    upgrade()
    # The hold placed at 0009 counts against its address, not against its e-mail (it has no key).
    assert rows("SELECT number, client_address, client_email_hash FROM orders") == [("ORDER-0001", OLD, None)]
    assert hold("CUP", 6, address=OLD, email="bob@example.com") == "hold_limit"  # 15 + 6 from OLD
    assert hold("CUP", 5, address=OLD, email="bob@example.com") == "placed"  # exactly 20
    assert hold("TEA", 20, address="198.51.100.1", email=ADA) == "placed"
    assert hold("CUP", 1, address="198.51.100.2", email=" ADA@example.com") == "hold_limit"
    emails = {f"email:{email_key(e)}" for e in (ADA, "bob@example.com")}  # refusals left none (rolled back)
    assert {client for (client,) in rows("SELECT client FROM hold_clients")} == {OLD, "198.51.100.1"} | emails

    downgrade(revision="0009")
    assert {client for (client,) in rows("SELECT client FROM hold_clients")} == {OLD, "198.51.100.1"}
    assert len(rows("SELECT id FROM orders WHERE status = 'confirmed'")) == 3

    upgrade()
    assert rows("SELECT client_email_hash FROM orders") == [(None,)] * 3  # the keys went with the column
    assert hold("CUP", 1, address=OLD, email="carol@example.com") == "hold_limit"  # 20 from OLD still
    assert hold("CUP", 20, address="198.51.100.3", email="carol@example.com") == "placed"
    assert hold("CUP", 1, address="198.51.100.4", email="Carol@Example.com") == "hold_limit"
    assert current_app.test_cli_runner().invoke(args=["inventory", "reconcile"]).exit_code == 0
