"""Attacks on the API's tokens and idempotency keys (issue 12, DESIGN §8), each written as the attack."""

from __future__ import annotations

from sqlalchemy import select

from shop.api.models import IdempotencyKey
from shop.models import Order
from tests.support.api import order_body
from tests.support.factories import add_product, make_staff
from tests.support.readers import count, stock_of

# -- idempotency keys belong to their caller ---------------------------------------------------------


def test_another_callers_key_and_body_do_not_return_their_order(session, api):
    """The attacker knows the key and the body a warehouse client sent; they get no order of theirs back."""
    add_product(session, "TEA", 10)
    _, warehouse = make_staff(session, "warehouse@example.com")
    _, other_staff = make_staff(session, "other@example.com")
    body = order_body(("TEA", 1), name="Grace Hopper", email="grace@example.com")
    original = api.post("/orders", body, key="order-2026-0001", token=warehouse)
    assert original.status_code == 201
    number = original.json["number"]

    for token in (None, other_staff):  # an anonymous caller, then another staff token
        response = api.post("/orders", body, key="order-2026-0001", token=token)
        assert response.status_code == 201
        assert response.headers["Idempotent-Replayed"] == "false"  # a new order of its own, not a replay
        assert response.json["number"] != number
        assert number not in response.get_data(as_text=True)

    replay = api.post("/orders", body, key="order-2026-0001", token=warehouse)
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
    assert replay.json["number"] == number  # the owner of the key still gets its answer
    assert count(session, Order) == 3 and stock_of(session, "TEA") == 7
    owners = session.scalars(select(IdempotencyKey.caller).order_by(IdempotencyKey.id)).all()
    assert owners[1] == "anonymous" and len(set(owners)) == 3


def test_another_callers_key_with_another_body_is_not_a_conflict(session, api):
    """Reusing someone else's key tells the caller nothing (no 409 revealing that the key exists)."""
    add_product(session, "TEA", 10)
    _, token = make_staff(session)
    assert api.post("/orders", order_body(("TEA", 1)), key="k-1", token=token).status_code == 201
    response = api.post("/orders", order_body(("TEA", 2)), key="k-1")
    assert response.status_code == 201 and response.json["totals"]["quantity"] == 2
