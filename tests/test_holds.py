"""Holds (README, Holds and payments): a customer's order keeps its stock until it expires, then is released.

Time passes with time-machine; nothing here sleeps.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.errors import InsufficientStock
from shop.extensions import db
from shop.holds import HoldState, commit_checkout, hold_state, hold_until, is_expired, release_expired_holds
from shop.models import Order, utcnow
from shop.orders import change_status, place_order
from tests.support.factories import add_product, place_hold
from tests.support.readers import movements, stock_of

LATER = timedelta(minutes=16)  # past the default 15-minute hold


@pytest.fixture
def clock(time_machine):
    """The clock the shop reads; ``clock.shift(LATER)`` lets a hold run out."""
    time_machine.move_to(utcnow() + timedelta(days=1), tick=False)
    return time_machine


def status_of(session, order):
    session.expire_all()
    return session.scalar(select(Order.status).where(Order.id == order.id))


def hold_expired_rows(session, sku=None):
    return [(m.product.sku, m.delta, m.actor) for m in movements(session, sku, reason="hold_expired")]


def test_a_customer_hold_expires_after_the_configured_minutes(session, clock):
    add_product(session, "TEA", 10)
    order = place_hold(session, ("TEA", 2))
    assert order.hold_expires_at == utcnow() + timedelta(minutes=15)
    assert stock_of(session, "TEA") == 8  # a hold takes its stock like any confirmed order


@pytest.mark.parametrize("status", ["draft", "paid"])
def test_drafts_and_paid_orders_are_not_holds(session, status):
    add_product(session, "TEA", 10)
    order = place_order(
        session,
        [("TEA", 1)],
        status=status,
        customer_name="A",
        customer_email="a@x.y",
        hold_until=hold_until(),
    )
    session.commit()
    assert order.hold_expires_at is None


@pytest.mark.parametrize("status, stock_left", [("paid", 8), ("cancelled", 10)])
def test_paying_or_cancelling_a_hold_ends_it(session, clock, status, stock_left):
    add_product(session, "TEA", 10)
    order = place_hold(session, ("TEA", 2))
    change_status(session, order, status, actor="test")
    session.commit()
    clock.shift(LATER)
    assert order.hold_expires_at is None and hold_state(order) is HoldState.NONE and not is_expired(order)
    assert release_expired_holds().orders == 0
    assert stock_of(session, "TEA") == stock_left


def test_an_expired_hold_is_released_once_with_its_stock_ledgered(session, clock):
    add_product(session, "TEA", 10)
    add_product(session, "CUP", 5)
    order = place_hold(session, ("TEA", 2), ("CUP", 1), ("TEA", 1))
    live = place_hold(session, ("TEA", 1))
    clock.shift(LATER - timedelta(minutes=1))
    late = place_hold(session, ("CUP", 1))  # placed later: still live at the sweep
    clock.shift(timedelta(minutes=1))

    first = release_expired_holds()
    second = release_expired_holds()

    assert (first.orders, first.units, second.orders) == (2, 5, 0)
    assert status_of(session, order) == status_of(session, live) == "cancelled"
    assert status_of(session, late) == "confirmed"
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (10, 4)
    assert sorted(hold_expired_rows(session)) == [
        ("CUP", 1, "system"),
        ("TEA", 1, "system"),
        ("TEA", 3, "system"),
    ]
    assert movements(session, reason="order_cancelled") == []
    assert ledger_mismatches() == []


def test_the_sweeper_stops_at_its_limit(session, clock):
    add_product(session, "TEA", 10)
    holds = [place_hold(session, ("TEA", 1)) for _ in range(3)]
    clock.shift(LATER)
    assert release_expired_holds(limit=2).orders == 2
    assert sorted(status_of(session, order) for order in holds) == ["cancelled", "cancelled", "confirmed"]
    assert release_expired_holds(limit=2).orders == 1


def test_a_live_hold_and_a_staff_order_are_left_alone(session, clock):
    add_product(session, "TEA", 10)
    hold = place_hold(session, ("TEA", 1))
    staff_order = place_order(
        session, [("TEA", 1)], status="confirmed", customer_name="B", customer_email="b@x.y"
    )
    session.commit()
    assert release_expired_holds().orders == 0
    clock.shift(LATER)
    assert release_expired_holds().orders == 1
    assert (status_of(session, hold), status_of(session, staff_order)) == ("cancelled", "confirmed")


def test_reading_an_expired_hold_changes_nothing(session, clock):
    add_product(session, "TEA", 10)
    order = place_hold(session, ("TEA", 4))
    clock.shift(LATER)
    session.expire_all()
    assert is_expired(session.get(Order, order.id))
    assert status_of(session, order) == "confirmed" and stock_of(session, "TEA") == 6


def hold_line_of(runner, number):
    result = runner.invoke(args=["orders", "show", number])
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line.startswith("Hold:")]


def test_orders_show_says_whether_a_hold_is_live_expired_or_released(session, runner, clock):
    add_product(session, "TEA", 10)
    order = place_hold(session, ("TEA", 2))
    until = f"{order.hold_expires_at:%Y-%m-%d %H:%M:%S} UTC"
    session.rollback()
    assert hold_line_of(runner, order.number) == [f"Hold: live until {until}"]
    clock.shift(LATER)
    assert hold_line_of(runner, order.number) == [f"Hold: expired at {until}, not released yet"]
    assert runner.invoke(args=["orders", "expire-holds"]).exit_code == 0
    assert hold_line_of(runner, order.number) == [f"Hold: released, it expired at {until}"]


def test_orders_show_prints_no_hold_for_a_paid_or_a_staff_order(session, runner, clock):
    add_product(session, "TEA", 10)
    paid = place_hold(session, ("TEA", 1))
    change_status(session, paid, "paid", actor="test")
    staff_order = place_order(
        session, [("TEA", 1)], status="confirmed", customer_name="B", customer_email="b@x.y"
    )
    session.commit()
    clock.shift(LATER)
    assert hold_line_of(runner, paid.number) == hold_line_of(runner, staff_order.number) == []


def test_the_hold_state_follows_the_order_from_live_to_released(session, clock):
    add_product(session, "TEA", 10)
    order = place_hold(session, ("TEA", 1))
    at_expiry = order.hold_expires_at
    assert hold_state(order, now=at_expiry) is HoldState.LIVE  # expired only once the time is past
    clock.shift(LATER)
    assert hold_state(order) is HoldState.EXPIRED and is_expired(order)
    release_expired_holds()
    session.expire_all()
    released = session.get(Order, order.id)
    assert hold_state(released) is HoldState.RELEASED and not is_expired(released)
    assert released.status == "cancelled" and released.hold_expires_at == at_expiry


def test_the_expire_holds_command_reports_orders_and_units(session, runner, clock):
    add_product(session, "TEA", 10)
    place_hold(session, ("TEA", 2))
    place_hold(session, ("TEA", 3))
    clock.shift(LATER)
    session.rollback()
    result = runner.invoke(args=["orders", "expire-holds"])
    assert result.exit_code == 0, result.output
    assert result.output == "Released 2 expired hold(s), 5 unit(s) back in stock.\n"
    assert runner.invoke(args=["orders", "expire-holds"]).output.startswith("Released 0 expired hold(s)")
    assert stock_of(session, "TEA") == 10


@pytest.mark.parametrize("limit", ["0", "-1", "x", "1.5"])
def test_the_expire_holds_command_refuses_a_bad_limit(session, runner, limit):
    result = runner.invoke(args=["orders", "expire-holds", "--limit", limit])
    assert result.exit_code == 2 and "--limit" in result.output


def buy(session, *lines):
    return lambda: place_order(
        session,
        list(lines),
        status="confirmed",
        customer_name="Buyer",
        customer_email="b@x.y",
        hold_until=None,
    )


def test_a_checkout_short_of_stock_that_expired_holds_keep_releases_them_and_succeeds(session, clock):
    add_product(session, "TEA", 5)
    add_product(session, "CUP", 5)
    hoarder = place_hold(session, ("TEA", 5))
    other = place_hold(session, ("CUP", 5))  # expired too, but not on the buyer's product
    clock.shift(LATER)
    session.rollback()
    order = commit_checkout(buy(db.session, ("TEA", 3)), actor="customer")
    assert order.status == "confirmed"
    assert (status_of(session, hoarder), status_of(session, other)) == ("cancelled", "confirmed")
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (2, 0)
    assert hold_expired_rows(session) == [("TEA", 5, "system")]
    assert ledger_mismatches() == []


def test_a_checkout_short_of_stock_with_only_live_holds_is_refused(session, clock):
    add_product(session, "TEA", 5)
    hold = place_hold(session, ("TEA", 5))
    session.rollback()
    with pytest.raises(InsufficientStock):
        commit_checkout(buy(db.session, ("TEA", 1)), actor="customer")
    assert status_of(session, hold) == "confirmed" and stock_of(session, "TEA") == 0


def test_an_expired_hold_is_released_only_for_a_buyer_it_would_help(session, clock):
    add_product(session, "TEA", 5)
    add_product(session, "CUP", 1)
    hold = place_hold(session, ("TEA", 5))
    clock.shift(LATER)
    session.rollback()
    with pytest.raises(InsufficientStock):
        commit_checkout(buy(db.session, ("CUP", 2)), actor="customer")  # short on CUP, no hold keeps CUP
    assert status_of(session, hold) == "confirmed"


def test_a_released_hold_cannot_be_released_again_or_paid(session, clock):
    add_product(session, "TEA", 5)
    order = place_hold(session, ("TEA", 2))
    clock.shift(LATER)
    release_expired_holds()
    session.expire_all()
    commit_unit_of_work(
        lambda: change_status(db.session, db.session.get(Order, order.id), "cancelled", actor="x"),
        actor="test",
    )
    assert stock_of(session, "TEA") == 5
    assert len(hold_expired_rows(session)) == 1 and movements(session, reason="order_cancelled") == []
