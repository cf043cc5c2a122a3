"""The product rules and services (shop/products.py) that the CLI import, the staff pages and the API share."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop import products
from shop.database import commit_unit_of_work
from shop.errors import InvalidProduct
from shop.models import Product
from shop.products import ProductDetails, create_product, update_product
from tests.support.factories import add_product
from tests.support.readers import counts, movements, stock_of

TEA = ProductDetails(name="Green tea", price_cents=1250, low_stock_threshold=3, max_per_order=4)


def test_creating_a_product_writes_one_initial_stock_row_by_the_actor(session):
    commit_unit_of_work(lambda: create_product(session, "TEA-1", TEA, 12), actor="staff:ada@example.com")
    session.expire_all()
    product = session.scalar(select(Product).where(Product.sku == "TEA-1"))
    assert (product.name, product.price_cents, product.low_stock_threshold, product.max_per_order) == (
        "Green tea",
        1250,
        3,
        4,
    )
    assert product.status == "active" and stock_of(session, "TEA-1") == 12
    assert [(m.reason, m.delta, m.quantity_after, m.actor) for m in movements(session, "TEA-1")] == [
        ("initial_stock", 12, 12, "staff:ada@example.com")
    ]


def test_a_product_created_without_stock_is_stocked_at_zero_with_no_ledger_row(session):
    create_product(session, "CUP", ProductDetails(name="Cup", price_cents=0), 0)
    session.commit()
    assert stock_of(session, "CUP") == 0 and movements(session, "CUP") == []


def test_every_problem_of_a_new_product_is_reported_and_nothing_is_written(session):
    add_product(session, "TEA", 5)
    before = counts(session)
    bad = ProductDetails(name=" ", price_cents=-1, low_stock_threshold=-2, max_per_order=0, status="gone")
    with pytest.raises(InvalidProduct) as raised:
        create_product(session, "TEA", bad, -3)
    assert [p.code for p in raised.value.problems] == [
        "duplicate_sku",
        "invalid_name",
        "invalid_price",
        "invalid_threshold",
        "invalid_limit",
        "invalid_status",
        "invalid_stock",
    ]
    session.rollback()
    assert counts(session) == before


@pytest.mark.parametrize(
    "rule, good, bad",
    [
        (products.sku_problem, ["A", "tea-1.b_c", "9" * 64], ["", "-A", "A B", "é", "A" * 65, None, "A\n"]),
        (products.name_problem, ["x", "Tee, 100 g", "é" * 200], ["", "  ", "x" * 201, "a\x00b", 5]),
        (products.price_problem, [0, 1, 100_000_000], [-1, 100_000_001, 1.5, "12", True, None]),
        (products.threshold_problem, [0, 1_000_000], [-1, 1_000_001, "3", None]),
        (products.limit_problem, [None, 1, 10_000], [0, -1, 10_001, "2", True]),
        (products.status_problem, ["active", "unavailable", "discontinued"], ["ACTIVE", "", None, "deleted"]),
        (products.stock_problem, [0, 1_000_000], [-1, 1_000_001, 2.0, None]),
    ],
)
def test_each_rule_accepts_and_refuses(rule, good, bad):
    assert [rule(value) for value in good] == [None] * len(good)
    assert all(rule(value) is not None for value in bad)


def test_updating_a_product_changes_its_details_but_never_its_stock(session):
    product = add_product(session, "TEA", 7)
    update_product(
        session,
        product,
        ProductDetails(
            name="  Sencha  ",
            price_cents=990,
            low_stock_threshold=1,
            max_per_order=None,
            status="unavailable",
        ),
    )
    session.commit()
    session.expire_all()
    product = session.scalar(select(Product).where(Product.sku == "TEA"))
    assert (product.name, product.price_cents, product.low_stock_threshold, product.status) == (
        "Sencha",
        990,
        1,
        "unavailable",
    )
    assert stock_of(session, "TEA") == 7 and len(movements(session, "TEA")) == 1


def test_a_refused_update_changes_nothing(session):
    product = add_product(session, "TEA", 7)
    with pytest.raises(InvalidProduct) as raised:
        update_product(
            session, product, ProductDetails(name="x" * 201, price_cents=100, max_per_order=10_001)
        )
    assert [(p.code, p.sku) for p in raised.value.problems] == [
        ("invalid_name", "TEA"),
        ("invalid_limit", "TEA"),
    ]
    session.rollback()
    session.expire_all()
    assert session.scalar(select(Product.name).where(Product.sku == "TEA")) == "Product TEA"


def test_the_cli_import_refuses_with_the_same_rules(runner, session, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "sku,name,price_cents,quantity\n-X,Name,100,1\nOK,,100,1\nOK2,Name,100000001,1\nOK3,Name,1,1000001\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["inventory", "import", str(csv_file)])
    assert result.exit_code == 1
    for line, problem in [
        (2, products.sku_problem("-X")),
        (3, products.name_problem("")),
        (4, products.price_problem(100_000_001)),
        (5, products.stock_problem(1_000_001)),
    ]:
        assert f"line {line}: {problem.message}" in result.output, result.output
