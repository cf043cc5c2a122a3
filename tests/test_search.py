"""The storefront's catalog search (shop/search.py): terms kept in step, prefix matching, pages."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, event, select, text
from sqlalchemy.exc import OperationalError

from shop import search
from shop.extensions import db
from shop.models import Product, ProductSearchTerm, utcnow
from shop.search import catalog_page, product_terms, query_words
from tests.support.factories import add_product


def terms_of(session, sku):
    return set(session.scalars(select(ProductSearchTerm.term).join(Product).where(Product.sku == sku)).all())


def named(session, sku, name, quantity=5):
    product = add_product(session, sku, quantity)
    product.name = name
    session.commit()
    return product


def found(session, query, page=1, per_page=24):
    skus = [p.sku for p in catalog_page(session, query, page, per_page).items]
    session.rollback()  # end the read: the next one starts from a fresh snapshot
    return skus


def test_words_are_folded_the_same_everywhere():
    assert product_terms("TEA-Sencha.01", "Grüner Tee, 100 g — Straße") == {
        "tea-sencha.01",
        "tea",
        "sencha",
        "01",
        "gruner",
        "tee",
        "100",
        "g",
        "strasse",
    }
    assert query_words("  Tee tee GRÜN " + "x" * 200) == ["tee", "grun", "x" * 64][:3]
    assert query_words("a b c d e f g h") == ["a", "b", "c", "d", "e", "f"]


def test_a_new_product_gets_its_terms_and_a_rename_replaces_them(session):
    named(session, "TEA-1", "Sencha green tea")
    assert terms_of(session, "TEA-1") == {"tea-1", "tea", "1", "sencha", "green"}
    product = session.scalar(select(Product).where(Product.sku == "TEA-1"))
    product.name = "Assam"
    session.commit()
    assert terms_of(session, "TEA-1") == {"tea-1", "tea", "1", "assam"}
    product.price_cents = 5  # no rename: the terms stay as they are
    session.commit()
    assert terms_of(session, "TEA-1") == {"tea-1", "tea", "1", "assam"}


def test_deleting_a_product_deletes_its_terms(session):
    named(session, "GONE", "Something", quantity=None)  # not stocked, no ledger rows: it may be deleted
    session.execute(delete(Product).where(Product.sku == "GONE"))
    session.commit()
    assert session.scalar(select(ProductSearchTerm.term).limit(1)) is None


@pytest.fixture
def shelf(session):
    for sku, name in [
        ("TEA-SENCHA", "Sencha green tea, 100 g"),
        ("TEA-ASSAM", "Assam breakfast tea"),
        ("CUP-STONE", "Stoneware cup"),
        ("A_B", "Underscore thing"),
        ("AXB", "Cross thing"),
        ("COT-100", "100% cotton bag"),
        ("CAFE-1", "Café crème brûlée"),
    ]:
        named(session, sku, name)


@pytest.mark.parametrize(
    "query, skus",
    [
        ("", ["COT-100", "TEA-ASSAM", "CAFE-1", "AXB", "TEA-SENCHA", "CUP-STONE", "A_B"]),
        ("tea", ["TEA-ASSAM", "TEA-SENCHA"]),
        ("TEA", ["TEA-ASSAM", "TEA-SENCHA"]),
        ("gre te", ["TEA-SENCHA"]),  # every word, as a prefix, in any order
        ("tea gre", ["TEA-SENCHA"]),
        ("reen", []),  # words are matched from their start
        ("tea-sen", ["TEA-SENCHA"]),
        ("cup-stone", ["CUP-STONE"]),
        ("creme brulee", ["CAFE-1"]),  # accents and case folded on every database
        ("CRÈME", ["CAFE-1"]),
        ("a_b", ["A_B"]),  # "_" is a character, never a wildcard
        ("a_", ["A_B"]),
        ("%", []),  # nor "%"
        ("100%", ["COT-100", "TEA-SENCHA"]),
        ("'; DROP TABLE products; --", []),
        ("nothing", []),
    ],
)
def test_search_by_the_start_of_words_of_the_name_or_sku(session, shelf, query, skus):
    assert found(session, query) == skus


def test_pages_of_24_in_name_order_and_the_last_page_past_the_end(session):
    for i in range(30):
        named(session, f"P{i:02}", f"Product {29 - i:02}")
    first = catalog_page(session, "", 1, 24)
    assert (first.total, first.pages, first.page, len(first.items)) == (30, 2, 1, 24)
    assert first.items[0].sku == "P29" and first.has_next and not first.has_prev
    second = catalog_page(session, "product", 2, 24)
    assert [p.sku for p in second.items] == ["P05", "P04", "P03", "P02", "P01", "P00"]
    beyond = catalog_page(session, "", 10**30, 24)
    assert (beyond.page, beyond.requested_page > beyond.page, beyond.past_the_end) == (2, True, True)
    assert [p.sku for p in beyond.items] == [p.sku for p in second.items]
    assert catalog_page(session, "", -5, 24).page == 1
    pages = catalog_page(session, "", 1, 2).iter_pages(left_edge=1, right_edge=1)
    assert list(pages) == [1, 2, 3, 4, 5, None, 15]


# -- flask catalog reindex: products written with plain SQL ------------------------------------


def write_with_sql(session, *products):
    """(sku, name) products written the way another system would: plain SQL, no session hook."""
    session.execute(
        text(
            "INSERT INTO products (sku, name, price_cents, status, low_stock_threshold, created_at, updated_at)"
            " VALUES (:sku, :name, 100, 'active', 5, :now, :now)"
        ),
        [{"sku": sku, "name": name, "now": utcnow()} for sku, name in products],
    )
    session.commit()


def reindex(runner):
    result = runner.invoke(args=["catalog", "reindex"])
    assert result.exit_code == 0, result.output
    return result.output


def test_reindex_finds_products_written_with_plain_sql(session, runner):
    named(session, "TEA-1", "Sencha")
    write_with_sql(session, ("TEA-2", "Matcha powder"))
    assert found(session, "matcha") == []
    assert reindex(runner) == "Indexed 2 product(s) for search.\n"
    assert found(session, "matcha") == ["TEA-2"] and found(session, "tea") == ["TEA-2", "TEA-1"]


def test_reindex_finds_a_product_renamed_with_plain_sql_by_its_new_name_only(session, runner):
    named(session, "TEA-1", "Sencha")
    session.execute(text("UPDATE products SET name = 'Assam' WHERE sku = 'TEA-1'"))
    session.commit()
    assert found(session, "assam") == [] and found(session, "sencha") == ["TEA-1"]
    assert reindex(runner) == "Indexed 1 product(s) for search.\n"
    assert found(session, "assam") == ["TEA-1"] and found(session, "sencha") == []
    assert terms_of(session, "TEA-1") == product_terms("TEA-1", "Assam")


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the servers' clients check foreign keys
def test_reindex_forgets_the_terms_of_products_deleted_with_foreign_keys_off(session, runner):
    named(session, "TEA-1", "Sencha", quantity=None)
    named(session, "TEA-2", "Assam", quantity=None)
    with closing(sqlite3.connect(db.engine.url.database)) as shell:  # SQLite's shell: foreign keys off
        shell.execute("DELETE FROM products WHERE sku = 'TEA-1'")
        shell.commit()
    assert catalog_page(session, "tea", 1, 24).total == 2  # counted from the terms, though gone
    session.rollback()
    assert reindex(runner) == "Indexed 1 product(s) for search.\n"
    assert catalog_page(session, "tea", 1, 24).total == 1


def test_reindex_indexes_a_catalog_of_10000_products_in_batches_and_one_transaction(
    session, runner, statements
):
    write_with_sql(session, *[(f"BULK-{i:05}", f"Bulk product {i}") for i in range(10_000)])
    commits = []

    def count_commit(connection):
        commits.append(connection)

    event.listen(db.engine, "commit", count_commit)
    statements.clear()
    try:
        assert reindex(runner) == "Indexed 10000 product(s) for search.\n"
    finally:
        event.remove(db.engine, "commit", count_commit)
    assert len(commits) == 1
    batches = 10_000 // search.REINDEX_BATCH
    assert (
        sum(s.startswith("DELETE FROM product_search_terms") for s in statements) == batches + 1
    )  # + orphans
    assert catalog_page(session, "bulk", 1, 24).total == 10_000
    session.rollback()
    assert found(session, "09999") == ["BULK-09999"] and found(session, "product 5000") == ["BULK-05000"]


def waits_for_a_lock(statements) -> bool:
    """True if the SQL ``statements``, run in a connection of their own, wait for a lock over a second."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET lock_timeout = '1s'"))
        else:
            connection.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
        try:
            for statement in statements:
                connection.execute(text(statement), {"now": utcnow()})
        except OperationalError as exc:  # lock timeout: 55P03 on PostgreSQL, 1205 on MariaDB
            assert "lock" in str(exc).lower(), exc
            return True
        finally:
            connection.rollback()
    return False


def test_a_reindex_under_way_holds_renames_back_but_not_orders(server_app):
    with server_app.app_context():
        product_id = add_product(db.session, "TEA-1", 10).id
        search.rebuild_terms(db.session)  # not committed yet: its locks are held
        try:
            assert waits_for_a_lock([f"UPDATE products SET name = 'Assam' WHERE id = {product_id}"])
            assert not waits_for_a_lock(
                [
                    "INSERT INTO orders (number, status, customer_name, customer_email, created_at, updated_at)"
                    " VALUES ('N-1', 'confirmed', 'Ada', 'a@b.c', :now, :now)",
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                    f" SELECT id, {product_id}, 1, 100 FROM orders WHERE number = 'N-1'",
                    "INSERT INTO inventory_movements"
                    " (product_id, location_id, delta, quantity_after, reason, actor, created_at)"
                    f" SELECT {product_id}, id, -1, 9, 'order_placed', 'test', :now FROM locations"
                    " WHERE code = 'main'",
                    f"UPDATE inventory SET quantity = 9 WHERE product_id = {product_id}",
                ]
            )
        finally:
            db.session.rollback()


def test_the_migration_finds_the_products_that_were_there_before_it(unmigrated_app):
    """0006 fills the terms of existing products (tests/test_migrations.py takes it down and up again)."""
    upgrade(revision="0005")
    db.session.execute(
        text(
            "INSERT INTO products (sku, name, price_cents, status, low_stock_threshold, created_at, updated_at)"
            " VALUES ('TEA-1', 'Grüner Tee', 100, 'active', 5, :now, :now)"
        ),
        {"now": utcnow()},
    )
    db.session.commit()
    upgrade()
    assert found(db.session, "grun tea-1") == ["TEA-1"]
