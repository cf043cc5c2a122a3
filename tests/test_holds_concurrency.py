"""Holds under contention, on real row locks (PostgreSQL, MariaDB): released exactly once, paid xor released."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.holds import commit_checkout, release_expired_holds
from shop.models import Inventory, InventoryMovement, Order, Payment, Product, utcnow
from shop.orders import place_order
from shop.payments import PAYMENT_ACTOR, Outcome, PaymentNotice, record_payment
from tests.support.factories import add_product, place_hold

HOLDS = 20
SWEEPERS = 3
BUYERS = 6


def run_together(*targets):
    """Start every target at the same moment; return what each raised (None when it did not)."""
    ready = threading.Barrier(len(targets), timeout=20)
    errors: list[BaseException | None] = [None] * len(targets)

    def run(index, target):
        ready.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors


def in_app(app, work):
    def target():
        with app.app_context():
            try:
                work()
            finally:
                db.session.remove()

    return target


def test_sweepers_and_checkouts_release_every_expired_hold_exactly_once(server_app, time_machine):
    with server_app.app_context():
        add_product(db.session, "HOT", HOLDS)
        add_product(db.session, "SIDE", 100)
        for i in range(HOLDS):
            place_hold(db.session, ("HOT", 1), ("SIDE", 1 + i % 3))
        side_held = sum(1 + i % 3 for i in range(HOLDS))
    time_machine.move_to(utcnow() + timedelta(minutes=16))  # every hold has run out; HOT has 0 left

    def buy():
        commit_checkout(
            lambda: place_order(
                db.session, [("HOT", 2)], status="confirmed", customer_name="B", customer_email="b@x.y"
            ),
            actor="customer",
        )

    errors = run_together(
        *[in_app(server_app, release_expired_holds) for _ in range(SWEEPERS)],
        *[in_app(server_app, buy) for _ in range(BUYERS)],
    )

    assert errors == [None] * (SWEEPERS + BUYERS)
    with server_app.app_context():
        released = db.session.execute(
            select(InventoryMovement.order_id, func.count())
            .where(InventoryMovement.reason == "hold_expired")
            .group_by(InventoryMovement.order_id)
        ).all()
        assert len(released) == HOLDS and {n for _, n in released} == {2}  # one row per product, per hold
        assert db.session.scalar(select(func.count()).where(Order.status == "confirmed")) == BUYERS
        stock = dict(db.session.execute(select(Product.sku, Inventory.quantity).join(Inventory)).all())
        assert stock == {"HOT": HOLDS - 2 * BUYERS, "SIDE": 100}
        assert side_held > 0 and ledger_mismatches() == []


@pytest.mark.parametrize(
    ("round_", "head_start"),
    [(0, "payment"), (1, "sweeper"), *((n, None) for n in range(2, 8))],  # None: neither, a real race
)
def test_a_payment_racing_the_sweeper_either_pays_or_is_refused_never_both(server_app, round_, head_start):
    with server_app.app_context():
        add_product(db.session, "TEA", 10, price_cents=500)
        hold = place_hold(db.session, ("TEA", 2))
        number, total = hold.number, hold.total_cents
    outcome = {}
    first_done = threading.Event()  # a head start is the first party done before the other begins

    @contextmanager
    def turn(party):
        if head_start not in (None, party):
            assert first_done.wait(timeout=30)
        try:
            yield
        finally:
            first_done.set()

    def pay():
        with turn("payment"):
            notice = PaymentNotice(f"pay-{round_}", number, total, "EUR")
            result = commit_unit_of_work(
                lambda: record_payment(db.session, notice, currency="EUR"), actor=PAYMENT_ACTOR
            )
            outcome["payment"] = result.outcome

    def sweep():  # a sweeper whose clock says the hold has run out, while the payment's says it has not
        with turn("sweeper"):
            outcome["released"] = release_expired_holds(now=utcnow() + timedelta(minutes=16)).orders

    assert run_together(in_app(server_app, pay), in_app(server_app, sweep)) == [None, None]
    with server_app.app_context():
        status = db.session.scalar(select(Order.status))
        payments = db.session.scalar(select(func.count()).select_from(Payment))
        returned = db.session.scalar(select(func.count()).where(InventoryMovement.reason == "hold_expired"))
        on_hand = db.session.scalar(select(Inventory.quantity))
        assert ledger_mismatches() == []
    if head_start:
        assert outcome["payment"] is (Outcome.PAID if head_start == "payment" else Outcome.HOLD_EXPIRED)
    if outcome["payment"] is Outcome.PAID:
        assert (status, payments, returned, on_hand, outcome["released"]) == ("paid", 1, 0, 8, 0)
    else:
        assert outcome["payment"] is Outcome.HOLD_EXPIRED
        assert (status, payments, returned, on_hand, outcome["released"]) == ("cancelled", 0, 1, 10, 1)
