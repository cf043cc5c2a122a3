"""What the migrations build is the same on every database: precision, exact keys, a clean autogenerate."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Product
from tests.support.factories import add_product


def test_the_migrations_match_the_models(session):
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"] == []


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
