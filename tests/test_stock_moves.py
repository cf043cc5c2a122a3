"""The two ways a stock change is written (shop/stock/moves.py) leave identical ledgers and errors.

PostgreSQL runs both: the one-statement path it uses in production and the step-by-step path of
MariaDB and SQLite. The same random changes go through each, on twin products with the same stock.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from shop.errors import InventoryError
from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Product
from shop.stock import StockRow, moves, rules
from tests.support.databases import make_app

SKUS = ["A", "B", "C"]
START = {"A": 5, "B": 2, "C": 0}
CHANGES = st.lists(
    st.dictionaries(st.sampled_from(SKUS), st.integers(-4, 4).filter(bool), min_size=1, max_size=3),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def postgresql_app(database_urls):
    yield from make_app(database_urls("postgresql"))


def check(deltas_by_id):
    """The refusal rule of a checkout: every product that cannot give its units is a problem."""

    def run(rows: dict[int, StockRow]) -> None:
        wanted = {pid: -delta for pid, delta in deltas_by_id.items() if delta < 0}
        problems = rules.stock_problems(wanted, rows)
        if problems:
            raise InventoryError.from_problems(problems)

    return run


def apply(write, ids: dict[str, int], changes) -> list:
    """Each change in a savepoint of its own; what each did (its reports, or its refusal)."""
    outcomes = []
    for change in changes:
        deltas = {ids[sku]: delta for sku, delta in change.items()}
        movement = moves.Movement("adjustment", "test", note="twin")
        try:
            with db.session.begin_nested():
                reports = write(db.session, deltas, movement, check(deltas), only_active=True)
        except InventoryError as exc:
            outcomes.append(("refused", sorted((p.code, p.requested, p.available) for p in exc.problems)))
        else:
            outcomes.append(
                ("done", [(r.delta, r.quantity_after, r.reason, r.actor, r.note) for r in reports])
            )
    return outcomes


def ledger(prefix: str) -> list:
    rows = db.session.execute(
        select(
            Product.sku, InventoryMovement.delta, InventoryMovement.quantity_after, InventoryMovement.reason
        )
        .join(Product)
        .where(Product.sku.startswith(prefix), InventoryMovement.reason != "initial_stock")
        .order_by(InventoryMovement.id)
    ).all()
    return [(sku.removeprefix(prefix), *rest) for sku, *rest in rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES)
def test_both_ways_leave_identical_ledgers_stock_and_errors(postgresql_app, changes):
    with postgresql_app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(delete(table))
        twins = {}
        for prefix in ("STEP-", "ONE-"):
            products = [
                Product(sku=prefix + sku, name=sku, price_cents=1, inventory=Inventory(quantity=START[sku]))
                for sku in SKUS
            ]
            db.session.add_all(products)
            db.session.flush()
            twins[prefix] = {sku: p.id for sku, p in zip(SKUS, products, strict=True)}
        assert db.session.connection().dialect.name == "postgresql"

        step = apply(moves.step_by_step, twins["STEP-"], changes)
        one = apply(moves.in_one_statement, twins["ONE-"], changes)

        assert one == step
        assert ledger("ONE-") == ledger("STEP-")
        stock = dict(db.session.execute(select(Product.sku, Inventory.quantity).join(Inventory)).all())
        assert {sku: stock["ONE-" + sku] for sku in SKUS} == {sku: stock["STEP-" + sku] for sku in SKUS}
        db.session.rollback()
