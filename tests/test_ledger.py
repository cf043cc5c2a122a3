"""The ledger explains every stock change; the database guards stock and references."""

import logging
import re

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shop import stock
from shop.cli import ledger_mismatches
from shop.errors import InsufficientStock, InvalidStockChange
from shop.models import Inventory, InventoryMovement, Order, OrderItem, Product
from tests.support.factories import add_product, order_of
from tests.support.readers import count, counts, movements, stock_of


def test_a_new_inventory_row_with_stock_writes_initial_stock(session):
    add_product(session, "TEA", 12)
    add_product(session, "EMPTY", 0)
    [row] = movements(session)
    assert (row.product.sku, row.delta, row.quantity_after, row.reason, row.actor) == (
        "TEA",
        12,
        12,
        "initial_stock",
        "test",
    )


def test_an_adjustment_is_ledgered_with_its_reason_actor_and_note(session):
    tea = add_product(session, "TEA", 5)
    stock.adjust_stock(session, tea, 7, "restock", "delivery 42")
    stock.adjust_stock(session, tea, -2, "adjustment", "broken")
    session.commit()
    assert stock_of(session, "TEA") == 10
    assert [(m.reason, m.delta, m.quantity_after, m.note, m.actor) for m in movements(session)] == [
        ("initial_stock", 5, 5, None, "test"),
        ("restock", 7, 12, "delivery 42", "test"),
        ("adjustment", -2, 10, "broken", "test"),
    ]


def test_an_adjustment_gives_a_product_without_inventory_its_first_stock(session):
    product = add_product(session, "NEW", None)
    stock.adjust_stock(session, product, 4, "restock")
    session.commit()
    assert stock_of(session, "NEW") == 4
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    ("delta", "reason"),
    [(0, "adjustment"), (-1, "restock"), (5, "order_placed"), (10**9, "adjustment"), (1.5, "adjustment")],
)
def test_bad_adjustments_are_refused(session, delta, reason):
    tea = add_product(session, "TEA", 5)
    with pytest.raises(InvalidStockChange):
        stock.adjust_stock(session, tea, delta, reason)
    session.rollback()
    assert stock_of(session, "TEA") == 5


def test_an_adjustment_cannot_take_stock_below_zero(session):
    tea = add_product(session, "TEA", 5)
    with pytest.raises(InsufficientStock):
        stock.adjust_stock(session, tea, -6, "adjustment")
    session.rollback()
    assert stock_of(session, "TEA") == 5


def test_assigning_the_quantity_directly_is_ledgered_as_an_adjustment(session):
    tea = add_product(session, "TEA", 5)
    tea.inventory.quantity = 9
    session.commit()
    assert stock_of(session, "TEA") == 9
    assert tea.inventory.quantity == 9
    last = movements(session)[-1]
    assert (last.reason, last.delta, last.quantity_after) == ("adjustment", 4, 9)
    assert ledger_mismatches() == []


# MariaDB reports a failed CHECK constraint as error 4025, which PyMySQL maps to OperationalError.
CHECK_FAILED = (IntegrityError, OperationalError)


def test_the_database_refuses_negative_stock(session):
    add_product(session, "TEA", 5)
    with pytest.raises(CHECK_FAILED):
        session.execute(update(Inventory).values(quantity=-1))
    session.rollback()
    assert stock_of(session, "TEA") == 5


def test_the_database_refuses_a_second_placement_of_the_same_product_by_one_order(session):
    tea = add_product(session, "TEA", 5)
    order = order_of(session, (tea, 1))
    session.add(order)
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(
            insert(InventoryMovement).values(
                product_id=tea.id,
                order_id=order.id,
                delta=-1,
                quantity_after=3,
                reason="order_placed",
                actor="x",
            )
        )


@pytest.mark.parametrize(
    "values",
    [
        {"delta": 0, "quantity_after": 1, "reason": "restock"},
        {"delta": 1, "quantity_after": -1, "reason": "restock"},
        {"delta": 1, "quantity_after": 1, "reason": "gift"},
    ],
)
def test_the_database_refuses_malformed_ledger_rows(session, values):
    tea = add_product(session, "TEA", 5)
    with pytest.raises(CHECK_FAILED):
        session.execute(insert(InventoryMovement).values(product_id=tea.id, actor="x", **values))


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM products",
        "UPDATE order_items SET product_id = 987654",
        "UPDATE inventory_movements SET order_id = 987654",
    ],
)
def test_references_between_products_orders_and_ledger_are_enforced(session, statement):
    tea = add_product(session, "TEA", 5)
    session.add(order_of(session, (tea, 1)))
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(text(statement))
    session.rollback()
    assert (count(session, Product), count(session, OrderItem)) == (1, 1)


def test_a_failure_in_the_ledger_insert_leaves_nothing_behind(session, statements, app):
    tea, cup = add_product(session, "TEA", 5), add_product(session, "CUP", 5)
    before = counts(session)

    from sqlalchemy import event

    def writes_ledger(statement):  # on PostgreSQL the ledger rows are written by the decrement's statement
        return statement.startswith("INSERT INTO inventory_movements") or (
            statement.startswith("WITH") and "INSERT INTO inventory_movements" in statement
        )

    def fail_ledger_insert(conn, cursor, statement, parameters, context, executemany):
        if writes_ledger(statement):
            raise RuntimeError("disk full")

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", fail_ledger_insert)
    try:
        session.add(order_of(session, (tea, 2), (cup, 1)))
        with pytest.raises(RuntimeError, match="disk full"):
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", fail_ledger_insert)
    session.rollback()
    assert any(
        s.startswith("UPDATE inventory") or (writes_ledger(s) and "UPDATE inventory" in s) for s in statements
    ), "the stock was decremented first, or in the same statement"
    assert counts(session) == before
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (5, 5)


# The database itself refuses the ledger row of a placed order, reporting the stock it sees then: the
# failure comes after the decrement, whether that is an earlier statement or, on PostgreSQL, the same one.
LEDGER_TRIGGER = {
    "sqlite": [
        """
        CREATE TRIGGER ledger_disk_full BEFORE INSERT ON inventory_movements WHEN NEW.reason = 'order_placed'
        BEGIN
            SELECT RAISE(ABORT, 'disk full');
        END""",
        # SQLite's RAISE takes a constant message: a second trigger refuses an undecremented row.
        """
        CREATE TRIGGER ledger_not_decremented BEFORE INSERT ON inventory_movements
        WHEN NEW.reason = 'order_placed'
             AND (SELECT quantity FROM inventory WHERE product_id = NEW.product_id) <> NEW.quantity_after
        BEGIN
            SELECT RAISE(ABORT, 'stock not decremented yet');
        END""",
    ],
    "postgresql": [
        """
        CREATE FUNCTION ledger_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.reason = 'order_placed' THEN
                RAISE EXCEPTION 'disk full: product % stock % after %', NEW.product_id,
                    (SELECT quantity FROM inventory WHERE product_id = NEW.product_id), NEW.quantity_after;
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER ledger_disk_full BEFORE INSERT ON inventory_movements
           FOR EACH ROW EXECUTE FUNCTION ledger_disk_full()""",
    ],
    "mariadb": [
        """
        CREATE TRIGGER ledger_disk_full BEFORE INSERT ON inventory_movements FOR EACH ROW
        BEGIN
            DECLARE message VARCHAR(200);
            IF NEW.reason = 'order_placed' THEN
                SET message = CONCAT('disk full: product ', NEW.product_id, ' stock ',
                    (SELECT quantity FROM inventory WHERE product_id = NEW.product_id),
                    ' after ', NEW.quantity_after);
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = message;
            END IF;
        END"""
    ],
}
DROP_LEDGER_TRIGGER = {
    "sqlite": ["DROP TRIGGER IF EXISTS ledger_disk_full", "DROP TRIGGER IF EXISTS ledger_not_decremented"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS ledger_disk_full ON inventory_movements",
        "DROP FUNCTION IF EXISTS ledger_disk_full()",
    ],
    "mariadb": ["DROP TRIGGER IF EXISTS ledger_disk_full"],
}


def test_the_database_failing_the_ledger_insert_after_the_decrement_leaves_nothing_behind(session):
    tea, cup = add_product(session, "TEA", 5), add_product(session, "CUP", 5)
    before = counts(session)
    backend = "mariadb" if session.get_bind().dialect.name == "mysql" else session.get_bind().dialect.name

    def run(statements):
        for statement in statements:
            session.execute(text(statement))
        session.commit()

    run(LEDGER_TRIGGER[backend])
    try:
        session.add(order_of(session, (tea, 2), (cup, 1)))
        with pytest.raises(DBAPIError, match="disk full") as error:
            session.commit()
        session.rollback()
    finally:
        session.rollback()
        run(DROP_LEDGER_TRIGGER[backend])
    if backend != "sqlite":  # the stock the trigger saw: already decremented
        product_id, seen, after = map(
            int, re.search(r"product (\d+) stock (\d+) after (\d+)", str(error.value.orig)).groups()
        )
        assert seen == after == {tea.id: 3, cup.id: 4}[product_id]
    assert counts(session) == before
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (5, 5)
    assert ledger_mismatches() == []


def test_stock_changes_are_logged_after_commit_only(session, caplog):
    tea = add_product(session, "TEA", 10, threshold=3)
    caplog.set_level(logging.INFO, logger="shop.inventory")
    caplog.clear()
    order = order_of(session, (tea, 8))
    session.add(order)
    session.flush()
    assert caplog.records == []
    session.commit()
    info, warning = caplog.records
    assert info.getMessage() == (
        f"stock_change order={order.number} sku=TEA delta=-8 quantity_after=2 reason=order_placed actor=test"
        " location=main"
    )
    assert (
        warning.levelname == "WARNING" and "low_stock sku=TEA quantity=2 threshold=3" in warning.getMessage()
    )


def test_a_rolled_back_change_is_not_logged(session, caplog):
    tea = add_product(session, "TEA", 10)
    caplog.set_level(logging.INFO, logger="shop.inventory")
    caplog.clear()
    session.add(order_of(session, (tea, 1)))
    session.flush()
    session.rollback()
    session.add(Order(customer_name="Ada", customer_email="ada@example.com"))
    session.commit()
    assert caplog.records == []
