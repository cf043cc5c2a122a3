"""Events are written in the transaction of the change they report: exist if and only if it committed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from shop import stock
from shop.database import commit_unit_of_work
from shop.errors import InventoryError
from shop.extensions import db
from shop.holds import release_expired_holds
from shop.models import InventoryMovement, Order, utcnow
from shop.orders import change_status, place_order
from shop.outbox import Event, recorder
from tests.support.factories import add_place, add_product, order_of
from tests.support.readers import count, stock_of


def events(session, *types):
    """(type, subject, data) of every event, in the order written."""
    session.rollback()
    query = select(Event.type, Event.subject, Event.payload).order_by(Event.id)
    if types:
        query = query.where(Event.type.in_(types))
    return [(t, subject, json.loads(payload)) for t, subject, payload in session.execute(query)]


def place(status="confirmed", lines=(("TEA", 2),), **kwargs):
    return commit_unit_of_work(
        lambda: place_order(
            db.session,
            list(lines),
            status=status,
            customer_name="Ada",
            customer_email="ada@example.com",
            **kwargs,
        ),
        actor="customer",
    )


def test_placing_an_order_records_order_placed_and_one_stock_changed_per_ledger_row(session):
    add_product(session, "TEA", 10, threshold=2)
    add_product(session, "CUP", 10, threshold=2)
    session.execute(text("DELETE FROM events"))  # the initial stock's events
    session.commit()
    order = place(lines=[("TEA", 2), ("CUP", 3)])

    recorded = events(session)
    assert [(t, s) for t, s, _ in recorded] == [
        ("order.placed", order.number),
        ("stock.changed", "TEA"),  # one per ledger row, in product-id order as the ledger is written
        ("stock.changed", "CUP"),
    ]
    placed = recorded[0][2]["order"]
    assert placed["number"] == order.number and placed["status"] == "confirmed"
    assert [(line["sku"], line["quantity"]) for line in placed["lines"]] == [("TEA", 2), ("CUP", 3)]
    assert placed["totals"]["total_cents"] == 5000
    ledger = {
        m.product.sku: m.id
        for m in session.scalars(select(InventoryMovement).where(InventoryMovement.order_id == order.id))
    }
    assert [data for _, _, data in recorded[1:]] == [
        {
            "sku": sku,
            "location": "main",
            "delta": delta,
            "quantity_after": after,
            "reason": "order_placed",
            "order_number": order.number,
            "actor": "customer",
            "ledger_id": ledger[sku],
        }
        for sku, delta, after in (("TEA", -2, 8), ("CUP", -3, 7))
    ]


def test_an_order_created_paid_is_placed_then_paid(session):
    add_product(session, "TEA", 10)
    order = place(status="paid")
    assert [(t, s) for t, s, _ in events(session, "order.placed", "order.paid")] == [
        ("order.placed", order.number),
        ("order.paid", order.number),
    ]


@pytest.mark.parametrize("status", ["draft", "cancelled"])
def test_an_order_that_takes_no_stock_records_nothing(session, status):
    add_product(session, "TEA", 10)
    before = count(session, Event)
    place(status=status)
    assert count(session, Event) == before


def test_each_status_change_records_what_it_did(session):
    add_product(session, "TEA", 10)
    draft = place(status="draft")
    assert events(session, "order.placed") == []
    commit_unit_of_work(
        lambda: change_status(db.session, draft, "confirmed", actor="staff:boss@example.com"), actor="x"
    )
    commit_unit_of_work(lambda: change_status(db.session, draft, "paid", actor="payments"), actor="payments")
    commit_unit_of_work(
        lambda: change_status(db.session, draft, "cancelled", actor="staff:boss@example.com"), actor="x"
    )

    recorded = events(session, "order.placed", "order.paid", "order.cancelled")
    assert [(t, data["order"]["status"]) for t, _, data in recorded] == [
        ("order.placed", "confirmed"),
        ("order.paid", "paid"),
        ("order.cancelled", "cancelled"),
    ]
    assert recorded[2][2]["reason"] == "order_cancelled" and recorded[2][2]["cancelled_by"] == "staff"
    returned = events(session, "stock.changed")[-1][2]
    assert (returned["reason"], returned["delta"], returned["quantity_after"]) == ("order_cancelled", 2, 10)


def test_an_orm_write_of_the_status_records_the_same_events(session):
    add_product(session, "TEA", 10)
    order = place()
    order.status = "cancelled"
    session.commit()
    cancelled = events(session, "order.cancelled")
    assert [(s, d["order"]["status"], d["reason"]) for _, s, d in cancelled] == [
        (order.number, "cancelled", "order_cancelled")
    ]


def test_a_released_hold_is_cancelled_by_the_system_with_reason_hold_expired(session):
    add_product(session, "TEA", 10)
    place(hold_until=utcnow())  # expires at once
    assert release_expired_holds().orders == 1
    (cancelled,) = events(session, "order.cancelled")
    assert (cancelled[2]["reason"], cancelled[2]["cancelled_by"]) == ("hold_expired", "system")


def test_stock_low_and_stock_out_are_recorded_when_a_change_crosses_the_line(session):
    add_product(session, "TEA", 10, threshold=5)
    place(lines=[("TEA", 4)])  # 10 → 6: above the threshold still
    assert events(session, "stock.low", "stock.out") == []
    place(lines=[("TEA", 2)])  # 6 → 4: low
    place(lines=[("TEA", 1)])  # 4 → 3: still low, not again
    place(lines=[("TEA", 3)])  # 3 → 0: out
    assert events(session, "stock.low", "stock.out") == [
        ("stock.low", "TEA", {"sku": "TEA", "quantity": 4, "threshold": 5}),
        ("stock.out", "TEA", {"sku": "TEA"}),
    ]


def test_an_adjustment_records_stock_changed_with_its_actor(session):
    tea = add_product(session, "TEA", 10)
    commit_unit_of_work(
        lambda: stock.adjust_stock(db.session, tea, 5, "restock", "delivery"), actor="staff:a@b.c"
    )
    (changed,) = [d for _, _, d in events(session, "stock.changed") if d["reason"] == "restock"]
    assert (changed["delta"], changed["quantity_after"], changed["actor"]) == (5, 15, "staff:a@b.c")


def test_a_refused_order_records_nothing(session):
    add_product(session, "TEA", 1)
    before = count(session, Event)
    with pytest.raises(InventoryError):
        place(lines=[("TEA", 2)])
    assert count(session, Event) == before


def test_an_order_rolled_back_after_its_events_were_queued_records_nothing(session):
    tea = add_product(session, "TEA", 10)
    before = count(session, Event)
    place_order(session, [("TEA", 2)], status="confirmed", customer_name="Ada", customer_email="a@b.c")
    session.add(order_of(session, (tea, 1)))
    session.flush()  # an ORM order too: its events are queued by the hook
    session.rollback()
    session.commit()  # a later commit of the same session must not write the rolled-back events
    assert count(session, Event) == before


# A trigger that makes every INSERT into events fail: the recorder is broken, for real.
BREAK_RECORDING = {
    "sqlite": [
        "CREATE TRIGGER break_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'recorder down'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION break_events() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'recorder down'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER break_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION break_events()",
    ],
    "mysql": [
        "CREATE TRIGGER break_events BEFORE INSERT ON events FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'recorder down'"
    ],
}
MEND_RECORDING = {
    "sqlite": ["DROP TRIGGER break_events"],
    "postgresql": ["DROP TRIGGER break_events ON events", "DROP FUNCTION break_events()"],
    "mysql": ["DROP TRIGGER break_events"],
}


@pytest.fixture
def broken_recorder(session):
    """TEA in stock, then every INSERT into events fails until the test ends."""
    add_product(session, "TEA", 10)
    dialect = session.get_bind().dialect.name
    for statement in BREAK_RECORDING[dialect]:
        session.execute(text(statement))
    session.commit()
    yield
    session.rollback()
    for statement in MEND_RECORDING[dialect]:
        session.execute(text(statement))
    session.commit()


def test_when_recording_fails_the_order_is_not_placed_and_no_stock_moves(session, broken_recorder):
    with pytest.raises(DBAPIError, match="recorder down"):
        place()
    assert count(session, Order) == 0
    assert count(session, InventoryMovement) == 1  # the initial stock only
    assert stock_of(session, "TEA") == 10


# -- stock at several locations ------------------------------------------------------------------


def test_a_split_order_records_a_stock_changed_per_location_and_judges_low_on_the_product(session):
    add_place(session, "floor", priority=1)
    add_product(session, "TEA", at={"main": 4, "floor": 4}, threshold=5)
    session.execute(text("DELETE FROM events"))
    session.commit()
    order = place(lines=[("TEA", 6)])  # 4 at main, 2 on the floor: 8 → 2 units that orders can take
    changed = [
        (d["location"], d["delta"], d["quantity_after"]) for _, _, d in events(session, "stock.changed")
    ]
    assert changed == [("main", -4, 0), ("floor", -2, 2)]
    # main ran out, but the product did not: one stock.low, for the product's 2 units, and no stock.out
    assert events(session, "stock.low", "stock.out") == [
        ("stock.low", "TEA", {"sku": "TEA", "quantity": 2, "threshold": 5})
    ]
    assert order.number


def test_a_transfer_records_both_rows_and_low_or_out_only_when_orders_lose_the_stock(session):
    add_place(session, "floor", priority=1)
    add_place(session, "returns", fulfils=False)
    tea = add_product(session, "TEA", at={"main": 4}, threshold=2)
    session.execute(text("DELETE FROM events"))
    session.commit()
    commit_unit_of_work(
        lambda: stock.transfer_stock(db.session, tea, 4, "main", "floor"), actor="staff:a@b.c"
    )
    commit_unit_of_work(
        lambda: stock.transfer_stock(db.session, tea, 4, "floor", "returns"), actor="staff:a@b.c"
    )
    changed = [
        (d["reason"], d["location"], d["delta"], d["quantity_after"])
        for _, _, d in events(session, "stock.changed")
    ]
    assert changed == [
        ("transfer_out", "main", -4, 0),
        ("transfer_in", "floor", 4, 4),
        ("transfer_out", "floor", -4, 0),
        ("transfer_in", "returns", 4, 4),
    ]
    # main to the floor: orders can take as many as before; the floor to returns: none are left for them
    assert events(session, "stock.low", "stock.out") == [("stock.out", "TEA", {"sku": "TEA"})]


def test_a_unit_of_work_with_more_events_than_a_statement_takes_records_them_all(
    session, statements, monkeypatch
):
    monkeypatch.setattr(recorder, "_MOST_ROWS", 2)
    for sku in ("TEA", "CUP", "MUG"):
        add_product(session, sku, 10, threshold=2)
    session.execute(text("DELETE FROM events"))
    session.commit()
    statements.clear()
    order = place(lines=[("TEA", 1), ("CUP", 1), ("MUG", 1)])
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO EVENTS")]
    assert len(inserts) == 2  # 4 events, 2 a statement
    assert [(t, s) for t, s, _ in events(session)] == [
        ("order.placed", order.number),
        ("stock.changed", "TEA"),
        ("stock.changed", "CUP"),
        ("stock.changed", "MUG"),
    ]
