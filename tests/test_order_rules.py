"""The status rules (docs/architecture.md).

Which statuses take stock, when it is returned, which changes are refused.
"""

import pytest
from sqlalchemy.exc import IntegrityError

from shop.errors import InvalidStatusTransition, InventoryError, OrderLocked
from shop.models import Order, OrderItem
from tests.support.factories import add_product, order_of
from tests.support.readers import count, movements, stock_of


def place(session, *lines, status="confirmed"):
    order = order_of(session, *lines, status=status)
    session.add(order)
    session.commit()
    return order


@pytest.mark.parametrize("status", ["confirmed", "paid"])
def test_a_new_order_in_a_committing_status_takes_stock(session, status):
    tea, cup = add_product(session, "TEA", 10), add_product(session, "CUP", 5)
    order = place(session, (tea, 3), (cup, 2), status=status)
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (7, 3)
    assert order.stock_committed_at is not None
    placed = movements(session, reason="order_placed")
    assert sorted((m.product.sku, m.delta, m.quantity_after, m.order_id) for m in placed) == [
        ("CUP", -2, 3, order.id),
        ("TEA", -3, 7, order.id),
    ]


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_a_new_order_in_a_non_committing_status_takes_no_stock(session, status):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 3), status=status)
    assert stock_of(session, "TEA") == 10
    assert order.stock_committed_at is None
    assert movements(session, reason="order_placed") == []


@pytest.mark.parametrize("status", ["confirmed", "paid"])
def test_moving_a_draft_into_a_committing_status_takes_stock(session, status):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 4), status="draft")
    order.status = status
    session.commit()
    assert stock_of(session, "TEA") == 6
    assert len(movements(session, reason="order_placed")) == 1


def test_confirmed_to_paid_takes_nothing_more(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 4))
    order.status = "paid"
    session.commit()
    assert stock_of(session, "TEA") == 6
    assert len(movements(session, reason="order_placed")) == 1


def test_resaving_the_same_status_takes_nothing(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 4))
    order.status = "confirmed"
    order.customer_name = "Ada Lovelace"
    session.commit()
    assert stock_of(session, "TEA") == 6
    assert len(movements(session, reason="order_placed")) == 1


@pytest.mark.parametrize("status", ["confirmed", "paid"])
def test_cancelling_a_committed_order_returns_its_stock(session, status):
    tea, cup = add_product(session, "TEA", 10), add_product(session, "CUP", 5)
    order = place(session, (tea, 3), (cup, 5), (tea, 1), status=status)
    order.status = "cancelled"
    session.commit()
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (10, 5)
    returned = movements(session, reason="order_cancelled")
    assert sorted((m.product.sku, m.delta, m.quantity_after) for m in returned) == [
        ("CUP", 5, 5),
        ("TEA", 4, 10),
    ]


def test_cancelling_a_draft_changes_nothing(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 3), status="draft")
    order.status = "cancelled"
    session.commit()
    assert stock_of(session, "TEA") == 10
    assert [m.reason for m in movements(session)] == ["initial_stock"]


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("confirmed", "draft"),
        ("paid", "draft"),
        ("paid", "confirmed"),
        ("cancelled", "draft"),
        ("cancelled", "confirmed"),
        ("cancelled", "paid"),
    ],
)
def test_transitions_outside_the_rules_are_refused(session, start, target):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 1), status=start)
    before = stock_of(session, "TEA")
    order.status = target
    with pytest.raises(InvalidStatusTransition) as refused:
        session.commit()
    session.rollback()
    assert refused.value.problems[0].code == "invalid_transition"
    assert session.get(Order, order.id).status == start
    assert stock_of(session, "TEA") == before


def test_an_unknown_status_is_refused(session):
    tea = add_product(session, "TEA", 10)
    session.add(order_of(session, (tea, 1), status="shipped"))
    with pytest.raises(InventoryError) as refused:
        session.commit()
    assert refused.value.problems[0].code == "invalid_status"


def test_a_cancelled_order_cannot_return_its_stock_twice(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 3))
    order.status = "cancelled"
    session.commit()
    order.status = "cancelled"
    session.commit()
    assert stock_of(session, "TEA") == 10
    assert len(movements(session, reason="order_cancelled")) == 1


@pytest.mark.parametrize("edit", ["add", "change", "remove"])
def test_the_lines_of_an_order_that_took_stock_are_frozen(session, edit):
    tea, cup = add_product(session, "TEA", 10), add_product(session, "CUP", 10)
    order = place(session, (tea, 2), (cup, 1))
    if edit == "add":
        order.items.append(OrderItem(product=cup, quantity=1))
    elif edit == "change":
        order.items[0].quantity = 5
    else:
        order.items.remove(order.items[0])
    with pytest.raises(OrderLocked):
        session.commit()
    session.rollback()
    assert count(session, OrderItem) == 2
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (8, 9)


def test_the_lines_of_a_cancelled_committed_order_stay_frozen(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 2))
    order.status = "cancelled"
    session.commit()
    order.items[0].quantity = 9
    with pytest.raises(OrderLocked):
        session.commit()


def test_draft_lines_can_be_edited_and_are_taken_as_edited(session):
    tea, cup = add_product(session, "TEA", 10), add_product(session, "CUP", 10)
    order = place(session, (tea, 2), status="draft")
    order.items[0].quantity = 3
    order.items.append(OrderItem(product=cup, quantity=4))
    session.commit()
    order.status = "confirmed"
    session.commit()
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (7, 6)


def test_an_order_that_took_stock_cannot_be_deleted(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 2))
    session.delete(order)
    with pytest.raises(OrderLocked):
        session.commit()


def test_deleting_a_draft_deletes_its_lines(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 2), status="draft")
    session.delete(order)
    session.commit()
    assert (count(session, Order), count(session, OrderItem)) == (0, 0)


def test_the_database_refuses_to_delete_an_order_with_ledger_rows(session):
    tea = add_product(session, "TEA", 10)
    order = place(session, (tea, 2))
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(Order.__table__.delete().where(Order.id == order.id))
    session.rollback()
    assert count(session, Order) == 1


def test_an_order_fills_in_its_number_and_line_prices(session):
    tea = add_product(session, "TEA", 10, price_cents=1250)
    order = place(session, (tea, 2))
    other = place(session, (tea, 1))
    assert order.number and other.number and order.number != other.number
    assert len(order.number.replace("-", "")) == 16
    assert order.items[0].unit_price_cents == 1250
    assert order.total_cents == 2500
