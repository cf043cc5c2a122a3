"""What the migrations build is the same on every database: precision, exact keys, a clean autogenerate.

tests/test_migrations.py takes every revision down and up again.
"""

import sqlalchemy as sa
from sqlalchemy import select

from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Product
from tests.support.factories import add_product
from tests.support.schema import model_differences


def test_the_migrations_match_the_models(session):
    with db.engine.connect() as connection:
        assert model_differences(connection) == []


def models_that_forgot():
    """The models as they would be had someone forgotten byte-ordered terms, microseconds and a reason."""
    metadata = sa.MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["product_search_terms"].c.term.type = sa.String(64)
    metadata.tables["orders"].c.created_at.type = sa.DateTime()
    ledger = metadata.tables["inventory_movements"]
    (reasons,) = [c for c in ledger.constraints if c.name == "ck_inventory_movements_reason_valid"]
    reasons.sqltext = sa.text(str(reasons.sqltext).replace(", 'hold_expired'", ""))
    return metadata


def test_the_comparison_sees_collations_fractional_seconds_and_the_values_a_check_allows(session):
    """What Alembic's default comparison lets pass, and the CHECK constraints it does not compare."""
    with db.engine.connect() as connection:
        found = model_differences(connection, models_that_forgot())
        dialect = connection.dialect.name
    changed = set()
    for change in found:
        if isinstance(change, list):  # Alembic's: [("modify_type", schema, table, column, …), …]
            changed |= {(c[0], c[2], c[3]) for c in change}
        else:  # check_differences: (table, name, in the database, in the models)
            changed.add(("check", *change[:2]))
    assert changed == {
        ("check", "inventory_movements", "ck_inventory_movements_reason_valid"),
        *[("modify_type", "product_search_terms", "term")] * (dialect != "sqlite"),  # SQLite: no collations
        *[("modify_type", "orders", "created_at")] * (dialect in ("mysql", "mariadb")),  # fsp is MariaDB's
    }


def test_timestamps_keep_microseconds(session):
    add_product(session, "TEA", 3)
    session.expire_all()
    stamps = session.execute(
        select(Product.created_at, InventoryMovement.created_at).join(InventoryMovement)
    ).one()
    assert any(stamp.microsecond for stamp in stamps)  # all zero: one chance in a million squared


def test_skus_are_compared_exactly(session):
    add_product(session, "TEA", 3)
    add_product(session, "tea", 5)  # a different product, even on MariaDB
    assert session.scalar(select(Product.sku).where(Product.sku == "Tea")) is None
    assert session.scalar(select(Inventory.quantity).join(Product).where(Product.sku == "tea")) == 5
