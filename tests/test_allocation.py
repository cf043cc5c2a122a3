"""Where an order's units come from when several locations keep them, and where they go back.

The rule itself (``shop.stock.allocation``) is tested on plain values first; then, on every database,
what orders, cancellations, released holds and the storefront make of it.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shop import create_app, stock
from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.errors import InsufficientStock, InventoryError
from shop.extensions import db
from shop.holds import release_expired_holds
from shop.models import InventoryMovement, Location, OrderItem, OrderItemAllocation, Product, utcnow
from shop.orders import change_status, place_order
from shop.search import catalog_page
from shop.stock.allocation import Allocation, Line, Place, allocate
from tests.support.factories import add_place, add_product
from tests.support.readers import stock_by_location, stock_of

MAIN, FLOOR, BACK = Place(1, "main", 0), Place(2, "floor", 1), Place(3, "back", 2)


def placed(lines, stock, places=(MAIN, FLOOR, BACK), strategy="priority"):
    """{line: [(location code, units)]} of ``allocate`` for (product, units) lines."""
    codes = {p.id: p.code for p in places}
    result = allocate([Line(i, pid, q) for i, (pid, q) in enumerate(lines)], stock, places, strategy)
    by_line: dict[int, list] = {}
    for a in result:
        by_line.setdefault(a.item_id, []).append((codes[a.location_id], a.quantity))
    return by_line


# -- the rule, on plain values --------------------------------------------------------------


def test_the_whole_order_comes_from_the_first_place_that_has_all_of_it():
    stock = {(1, 1): 5, (2, 1): 1, (1, 2): 3, (2, 2): 2}
    # main has product 1 but not enough of 2; the floor has both: one parcel from the floor
    assert placed([(1, 3), (2, 2)], stock) == {0: [("floor", 3)], 1: [("floor", 2)]}


def test_the_whole_order_rule_goes_by_priority_then_code():
    stock = {(1, 1): 9, (1, 2): 9, (1, 3): 9}
    assert placed([(1, 2)], stock) == {0: [("main", 2)]}
    tied = (Place(1, "zeta", 0), Place(2, "alpha", 0))
    assert placed([(1, 2)], {(1, 1): 9, (1, 2): 9}, tied) == {0: [("alpha", 2)]}


def test_by_priority_each_line_comes_from_the_first_place_that_has_it_all():
    stock = {(1, 1): 4, (2, 1): 0, (1, 2): 0, (2, 2): 1, (2, 3): 6}
    # no single place has 3 of 1 and 5 of 2: line by line, main for 1, the back room for 2
    assert placed([(1, 3), (2, 5)], stock) == {0: [("main", 3)], 1: [("back", 5)]}


def test_by_most_stock_each_line_comes_from_the_place_with_the_most():
    stock = {(1, 1): 4, (1, 2): 9, (2, 1): 2, (2, 3): 1}
    assert placed([(1, 3), (2, 2), (2, 1)], stock, strategy="most_stock") == {
        0: [("floor", 3)],
        1: [("main", 2)],
        2: [("back", 1)],  # main has none left for the second line of product 2
    }
    assert placed([(1, 3), (2, 3)], stock, strategy="priority") == {
        0: [("main", 3)],
        1: [("main", 2), ("back", 1)],
    }


def test_a_line_is_split_only_when_no_single_place_has_it():
    stock = {(1, 1): 2, (1, 2): 3, (1, 3): 4}
    assert placed([(1, 4)], stock) == {0: [("back", 4)]}  # the back room has all four: no split
    assert placed([(1, 6)], stock) == {0: [("main", 2), ("floor", 3), ("back", 1)]}
    assert placed([(1, 6)], stock, strategy="most_stock") == {0: [("back", 4), ("floor", 2)]}


def test_most_stock_ties_go_by_code():
    places = (Place(1, "zeta", 0), Place(2, "alpha", 5))
    stock = {(1, 1): 3, (1, 2): 3, (2, 1): 1, (2, 2): 1}  # no place has 2 of product 2: line by line
    assert placed([(1, 2), (2, 2)], stock, places, "most_stock") == {
        0: [("alpha", 2)],  # 3 each: alpha before zeta
        1: [("alpha", 1), ("zeta", 1)],
    }


@given(
    stock=st.dictionaries(st.tuples(st.integers(1, 3), st.integers(1, 3)), st.integers(0, 6)),
    lines=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 6)), min_size=1, max_size=5),
    strategy=st.sampled_from(["priority", "most_stock"]),
)
def test_every_line_gets_exactly_its_units_from_stock_that_is_there(stock, lines, strategy):
    wanted: dict[int, int] = {}
    for pid, quantity in lines:
        wanted[pid] = wanted.get(pid, 0) + quantity
    if any(sum(q for (p, _), q in stock.items() if p == pid) < n for pid, n in wanted.items()):
        return  # a shortage: judged (and refused) before anything is allocated
    result = allocate(
        [Line(i, pid, q) for i, (pid, q) in enumerate(lines)], stock, (BACK, FLOOR, MAIN), strategy
    )
    for index, (_, quantity) in enumerate(lines):
        assert sum(a.quantity for a in result if a.item_id == index) == quantity
    taken: dict[tuple[int, int], int] = {}
    for a in result:
        assert isinstance(a, Allocation) and a.quantity > 0
        taken[a.product_id, a.location_id] = taken.get((a.product_id, a.location_id), 0) + a.quantity
    assert all(stock.get(key, 0) >= units for key, units in taken.items())
    assert result == allocate(
        [Line(i, p, q) for i, (p, q) in enumerate(lines)], dict(stock), (MAIN, BACK, FLOOR), strategy
    )


# -- orders on every database --------------------------------------------------------------


@pytest.fixture
def three_places(session):
    """main (priority 0), a shop floor (1) and a back room (2), all fulfilling orders."""
    add_place(session, "floor", priority=1)
    add_place(session, "back", priority=2)
    return session


def place(session, *lines, status="confirmed", **kwargs):
    order = commit_unit_of_work(
        lambda: place_order(
            db.session,
            list(lines),
            status=status,
            customer_name="Ada",
            customer_email="ada@example.com",
            **kwargs,
        ),
        actor="test",
    )
    return order


def allocations_of(session, order) -> dict[str, list[tuple[str, int]]]:
    """{SKU: [(location code, units)]} of an order's lines, in line order."""
    session.rollback()
    rows = session.execute(
        select(Product.sku, Location.code, OrderItemAllocation.quantity)
        .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
        .join(Product, Product.id == OrderItem.product_id)
        .join(Location, Location.id == OrderItemAllocation.location_id)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.id, Location.priority)
    )
    found: dict[str, list] = {}
    for sku, code, quantity in rows:
        found.setdefault(sku, []).append((code, quantity))
    return found


def ledger_of(session, order) -> list[tuple[str, str, str, int, int]]:
    session.rollback()
    rows = session.execute(
        select(
            Product.sku,
            Location.code,
            InventoryMovement.reason,
            InventoryMovement.delta,
            InventoryMovement.quantity_after,
        )
        .join(Product)
        .join(Location)
        .where(InventoryMovement.order_id == order.id)
        .order_by(InventoryMovement.id)
    )
    return [tuple(row) for row in rows]


def test_an_order_one_place_can_serve_is_taken_there_whole(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 1, "floor": 5, "back": 9})
    add_product(session, "CUP", at={"main": 4, "floor": 2, "back": 3})
    order = place(session, ("TEA", 3), ("CUP", 2))
    assert allocations_of(session, order) == {"TEA": [("floor", 3)], "CUP": [("floor", 2)]}
    assert stock_by_location(session, "TEA") == {"main": 1, "floor": 2, "back": 9}
    assert ledger_of(session, order) == [
        ("TEA", "floor", "order_placed", -3, 2),
        ("CUP", "floor", "order_placed", -2, 0),
    ]
    assert ledger_mismatches() == []


def test_lines_no_place_can_serve_together_are_placed_one_by_one_and_split_when_needed(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 2, "floor": 2, "back": 2})
    add_product(session, "CUP", at={"back": 7})
    order = place(session, ("TEA", 5), ("CUP", 3))
    assert allocations_of(session, order) == {
        "TEA": [("main", 2), ("floor", 2), ("back", 1)],
        "CUP": [("back", 3)],
    }
    assert stock_by_location(session, "TEA") == {"main": 0, "floor": 0, "back": 1}
    assert ledger_mismatches() == []


def test_most_stock_takes_each_line_from_the_place_with_the_most(three_places, app):
    session = three_places
    app.config["SHOP_ALLOCATION"] = "most_stock"
    add_product(session, "TEA", at={"main": 3, "floor": 8, "back": 1})
    add_product(session, "CUP", at={"main": 5, "back": 6})
    order = place(session, ("TEA", 4), ("CUP", 6))
    assert allocations_of(session, order) == {"TEA": [("floor", 4)], "CUP": [("back", 6)]}


def test_ties_between_places_of_one_priority_go_by_code(session):
    add_place(session, "b-room", priority=1)
    add_place(session, "a-room", priority=1)
    add_product(session, "TEA", at={"main": 1, "a-room": 5, "b-room": 5})
    order = place(session, ("TEA", 4))
    assert allocations_of(session, order) == {"TEA": [("a-room", 4)]}


def test_inactive_and_non_fulfilling_places_are_neither_taken_from_nor_counted(session):
    add_place(session, "closed", priority=-5, active=False)
    add_place(session, "returns", priority=-4, fulfils=False)
    add_product(session, "TEA", at={"main": 2, "closed": 50, "returns": 50})
    add_product(session, "CUP", at={"closed": 9})
    with pytest.raises(InventoryError) as refused:
        place(session, ("TEA", 3), ("CUP", 1), ("TEA", 1))
    problems = {(p.sku, p.code, p.requested, p.available) for p in refused.value.problems}
    # every problem at once; available counts only what orders may take (CUP has no such place)
    assert problems == {("TEA", "insufficient_stock", 4, 2), ("CUP", "no_inventory", 1, 0)}
    order = place(session, ("TEA", 2))
    assert allocations_of(session, order) == {"TEA": [("main", 2)]}
    assert stock_by_location(session, "TEA") == {"main": 0, "closed": 50, "returns": 50}


def test_a_shortage_is_judged_against_the_sum_of_the_places_that_serve(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 2, "floor": 2, "back": 1})
    with pytest.raises(InsufficientStock) as refused:
        place(session, ("TEA", 6))
    (problem,) = refused.value.problems
    assert (problem.requested, problem.available) == (6, 5)
    assert place(session, ("TEA", 5)) is not None
    assert stock_of(session, "TEA") == 0


def test_cancelling_returns_each_allocation_to_where_it_came_from_once(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 1, "floor": 1, "back": 4})
    order = place(session, ("TEA", 3), status="paid")
    assert allocations_of(session, order) == {"TEA": [("back", 3)]}
    order2 = place(session, ("TEA", 3), status="paid")
    assert allocations_of(session, order2) == {"TEA": [("main", 1), ("floor", 1), ("back", 1)]}

    def cancel(number):
        def work():
            found = db.session.scalar(select(type(order)).where(type(order).number == number))
            change_status(db.session, found, "cancelled", actor="test")

        commit_unit_of_work(work, actor="test")

    cancel(order2.number)
    cancel(order2.number)  # again: nothing more comes back
    assert stock_by_location(session, "TEA") == {"main": 1, "floor": 1, "back": 1}
    assert [row[1:] for row in ledger_of(session, order2)] == [
        ("main", "order_placed", -1, 0),
        ("floor", "order_placed", -1, 0),
        ("back", "order_placed", -1, 0),
        ("main", "order_cancelled", 1, 1),
        ("floor", "order_cancelled", 1, 1),
        ("back", "order_cancelled", 1, 1),
    ]
    cancel(order.number)
    assert stock_by_location(session, "TEA") == {"main": 1, "floor": 1, "back": 4}
    assert ledger_mismatches() == []


def test_a_released_hold_gives_its_units_back_where_they_came_from(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 2, "floor": 3})
    hold = place(session, ("TEA", 4), hold_until=utcnow())  # expires at once
    assert allocations_of(session, hold) == {"TEA": [("main", 2), ("floor", 2)]}
    assert release_expired_holds().orders == 1
    assert stock_by_location(session, "TEA") == {"main": 2, "floor": 3}
    assert {row[1:3] for row in ledger_of(session, hold)} == {
        ("main", "order_placed"),
        ("floor", "order_placed"),
        ("main", "hold_expired"),
        ("floor", "hold_expired"),
    }


def test_a_draft_confirmed_later_is_allocated_then_under_the_locks(three_places):
    session = three_places
    add_product(session, "TEA", at={"main": 1, "back": 6})
    draft = place(session, ("TEA", 4), status="draft")
    assert allocations_of(session, draft) == {}

    def confirm():
        found = db.session.get(type(draft), draft.id)
        change_status(db.session, found, "confirmed", actor="test")

    commit_unit_of_work(confirm, actor="test")
    assert allocations_of(session, draft) == {"TEA": [("back", 4)]}


def test_an_orm_order_is_allocated_too(three_places):
    session = three_places
    tea = add_product(session, "TEA", at={"main": 1, "floor": 4})
    from tests.support.factories import order_of

    order = order_of(session, (tea, 3))
    session.add(order)
    session.commit()
    assert allocations_of(session, order) == {"TEA": [("floor", 3)]}


def test_the_storefront_counts_the_places_that_serve(session, client):
    add_place(session, "closed", active=False)
    add_product(session, "TEA", at={"main": 1, "closed": 40}, threshold=2)
    add_product(session, "CUP", at={"closed": 40})
    session.rollback()
    page = catalog_page(session, "", 1, 24)
    assert {p.sku: p.on_hand for p in page.items} == {"TEA": 1, "CUP": None}
    html = client.get("/products/TEA").text
    assert "Only 1 left" in html
    assert "Out of stock" in client.get("/products/CUP").text


def test_an_order_whose_allocations_were_deleted_around_the_shop_cannot_be_cancelled_silently(session):
    add_product(session, "TEA", 5)
    order = place(session, ("TEA", 2), status="paid")
    session.execute(OrderItemAllocation.__table__.delete())  # plain SQL, around the shop's rules
    session.commit()

    def cancel():
        change_status(db.session, db.session.get(type(order), order.id), "cancelled", actor="test")

    with pytest.raises(InventoryError) as refused:
        commit_unit_of_work(cancel, actor="test")
    assert [p.code for p in refused.value.problems] == ["no_allocations"]
    session.rollback()
    assert stock_of(session, "TEA") == 3 and session.get(type(order), order.id).status == "paid"


# -- configuration ---------------------------------------------------------------------------------


def test_shop_allocation_takes_one_of_the_two_strategies(monkeypatch):
    monkeypatch.setenv("SHOP_ALLOCATION", "most_stock")
    assert create_app({"DATABASE_URL": "sqlite://"}).config["SHOP_ALLOCATION"] == "most_stock"
    monkeypatch.setenv("SHOP_ALLOCATION", "closest")
    with pytest.raises(
        RuntimeError, match="SHOP_ALLOCATION='closest' is not valid: use priority or most_stock"
    ):
        create_app({"DATABASE_URL": "sqlite://"})


def test_stock_written_without_a_location_goes_to_shop_default_location(session, app):
    add_place(session, "floor", priority=1)
    app.config["SHOP_DEFAULT_LOCATION"] = "floor"
    tea = add_product(session, "TEA", 4)  # Inventory(quantity=4), no location
    commit_unit_of_work(lambda: stock.adjust_stock(db.session, tea, 2, "restock"), actor="test")
    assert stock_by_location(session, "TEA") == {"floor": 6}
    app.config["SHOP_DEFAULT_LOCATION"] = "attic"
    with pytest.raises(InventoryError) as refused:
        commit_unit_of_work(lambda: stock.adjust_stock(db.session, tea, 2, "restock"), actor="test")
    assert [p.code for p in refused.value.problems] == ["unknown_location"]
