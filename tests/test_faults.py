"""A database error at any statement of a stock change leaves nothing partial behind."""

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from shop import stock
from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.models import Order, Product
from shop.orders import place_order
from tests.support.factories import add_product
from tests.support.readers import counts, stock_of


class InjectedFault(Exception):
    """Stands for the connection failing while a statement runs."""


def failing_at(engine, position):
    """Make the ``position``-th statement (1-based, BEGIN excluded) raise; return the remover."""
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):
            seen.append(statement)
            if len(seen) == position:
                raise OperationalError(statement, parameters, InjectedFault("connection lost"))

    event.listen(engine, "before_cursor_execute", before)
    return lambda: event.remove(engine, "before_cursor_execute", before)


def place():
    place_order(
        db.session,
        [("TEA", 2), ("CUP", 1), ("TEA", 1)],
        status="confirmed",
        customer_name="Ada",
        customer_email="ada@example.com",
    )


def adjust():
    stock.adjust_stock(
        db.session, db.session.scalar(db.select(Product).where(Product.sku == "TEA")), 3, "restock"
    )


def cancel():
    db.session.scalar(db.select(Order)).status = "cancelled"
    db.session.flush()


@pytest.mark.parametrize(
    ("operation", "effect"),
    [
        (place, (7, 4)),
        (adjust, (13, 5)),
        (cancel, (10, 5)),
    ],
)
def test_a_fault_at_each_statement_leaves_nothing_partial(session, operation, effect):
    add_product(session, "TEA", 10)
    add_product(session, "CUP", 5)
    if operation is cancel:
        commit_unit_of_work(place, actor="test")
    engine = session.get_bind()
    position = 0
    while True:  # fail at statement 1, 2, 3, … until the operation has fewer statements than that
        position += 1
        before = (counts(session), stock_of(session, "TEA"), stock_of(session, "CUP"))
        remove = failing_at(engine, position)
        try:
            commit_unit_of_work(operation, actor="test", attempts=1)
        except OperationalError as exc:
            assert isinstance(exc.orig, InjectedFault)
            assert (counts(session), stock_of(session, "TEA"), stock_of(session, "CUP")) == before
            assert ledger_mismatches() == []
        else:
            break
        finally:
            remove()
    assert position > 3, "the operation never reached its stock statements"
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == effect  # and it landed once
    assert ledger_mismatches() == []
