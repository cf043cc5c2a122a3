"""Attacks on the API's tokens and idempotency keys (README, Security), each written as the attack."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shop.api.models import SCOPES, ApiToken, IdempotencyKey
from shop.models import Order, User, utcnow
from tests.support.api import order_body
from tests.support.factories import add_product, make_staff
from tests.support.readers import count, counts, stock_of

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
    assert owners[1] == "client:127.0.0.1" and len(set(owners)) == 3


def test_a_stranger_elsewhere_with_the_same_key_and_body_gets_an_order_of_their_own(session, api):
    """Anonymous keys belong to the client's address: another address never gets the first one's order."""
    add_product(session, "TEA", 10)
    body = order_body(("TEA", 1), name="Grace Hopper", email="grace@example.com")
    original = api.post("/orders", body, key="checkout-1", address="198.51.100.7")
    elsewhere = api.post("/orders", body, key="checkout-1", address="203.0.113.9")
    assert original.status_code == elsewhere.status_code == 201
    assert elsewhere.headers["Idempotent-Replayed"] == "false"
    assert elsewhere.json["number"] != original.json["number"]
    assert original.json["number"] not in elsewhere.get_data(as_text=True)
    again = api.post("/orders", body, key="checkout-1", address="198.51.100.7")
    assert (again.headers["Idempotent-Replayed"], again.json["number"]) == ("true", original.json["number"])
    assert count(session, Order) == 2 and stock_of(session, "TEA") == 8
    owners = session.scalars(select(IdempotencyKey.caller).order_by(IdempotencyKey.id)).all()
    assert owners == ["client:198.51.100.7", "client:203.0.113.9"]


def test_ipv6_strangers_share_their_keys_within_a_64(session, api):
    """One subscriber's /64 is one client: its addresses replay each other's keys, other /64s do not."""
    add_product(session, "TEA", 10)
    body = order_body(("TEA", 1))
    first = api.post("/orders", body, key="k-6", address="2001:db8:1:2::10")
    same_64 = api.post("/orders", body, key="k-6", address="2001:db8:1:2:ffff::1")
    other_64 = api.post("/orders", body, key="k-6", address="2001:db8:1:3::10")
    assert same_64.headers["Idempotent-Replayed"] == "true" and same_64.json["number"] == first.json["number"]
    assert (
        other_64.headers["Idempotent-Replayed"] == "false" and other_64.json["number"] != first.json["number"]
    )


def test_another_callers_key_with_another_body_is_not_a_conflict(session, api):
    """Reusing someone else's key tells the caller nothing (no 409 revealing that the key exists)."""
    add_product(session, "TEA", 10)
    _, token = make_staff(session)
    assert api.post("/orders", order_body(("TEA", 1)), key="k-1", token=token).status_code == 201
    response = api.post("/orders", order_body(("TEA", 2)), key="k-1")
    assert response.status_code == 201 and response.json["totals"]["quantity"] == 2


# -- tokens: scopes ----------------------------------------------------------------------------------


def token_with(session, runner, *scopes: str, email="kim@example.com", days: int | None = None) -> str:
    """A token issued the way an operator does it: flask staff token EMAIL --scope S … [--expires-in DAYS]."""
    if session.scalar(select(User).where(User.email == email)) is None:
        session.add(User(email=email, is_staff=True, password_hash="!"))
        session.commit()
    session.rollback()  # end the read: on SQLite its snapshot would hide the command's writes
    args = ["staff", "token", email, *(a for s in scopes for a in ("--scope", s))]
    if days is not None:
        args += ["--expires-in", str(days)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return re.search(r"^(shop_\S+)$", result.stdout, re.M).group(1)


def test_a_read_token_cannot_change_stock(session, runner, api):
    add_product(session, "TEA", 10)
    token = token_with(session, runner, "read")
    before = counts(session)
    response = api.post(
        "/products/TEA/adjustments", {"delta": 50, "reason": "restock", "note": "free tea"}, token=token
    )
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="stock:write"' in response.headers["WWW-Authenticate"]
    assert counts(session) == before and stock_of(session, "TEA") == 10
    assert api.get("/products/TEA/movements", token=token).status_code == 200  # what it may do, it does


# The scope each staff call needs; every other scope is refused.
STAFF_CALLS = [
    ("orders:write", "POST", "/orders/{number}/status", {"status": "cancelled"}),
    ("orders:write", "POST", "/orders", order_body(("TEA", 1), status="paid")),
    ("stock:write", "POST", "/products/TEA/adjustments", {"delta": 1, "reason": "restock"}),
    ("read", "GET", "/products/TEA/movements", None),
]


@pytest.mark.parametrize("needed, method, path, body", STAFF_CALLS)
def test_every_staff_call_needs_its_scope(session, runner, api, needed, method, path, body):
    add_product(session, "TEA", 10)
    number = api.post("/orders", order_body(("TEA", 1)), key="setup").json["number"]
    path = path.format(number=number)
    for scope in SCOPES:
        token = token_with(session, runner, scope, email=f"{scope.replace(':', '-')}@example.com")
        before = counts(session)
        response = api.request(method, path, json_body=body, token=token, key=f"k-{scope}")
        if scope == needed:
            assert response.status_code in (200, 201), (scope, response.json)
        else:
            assert (response.status_code, response.json["code"]) == (403, "insufficient_scope"), scope
            assert counts(session) == before


def test_a_token_without_read_sees_products_as_strangers_do(session, runner, api):
    add_product(session, "TEA", 10)
    writer = token_with(session, runner, "orders:write", "stock:write")
    reader = token_with(session, runner, "read", email="reader@example.com")
    assert "stock" not in api.get("/products/TEA", token=writer).json
    assert "stock" not in api.get("/products", token=writer).json["items"][0]
    assert api.get("/products/TEA", token=reader).json["stock"] == 10


def test_a_token_gets_every_scope_and_90_days_unless_told(session, runner):
    token_with(session, runner)
    row = session.scalar(select(ApiToken))
    assert row.scopes.split() == list(SCOPES)
    assert abs(row.expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scope", "admin"], "'admin' is not one of"),
        (["--expires-in", "0"], "0 is not in the range"),
        (["--expires-in", "soon"], "'soon' is not a valid integer"),
    ],
)
def test_the_token_command_refuses_bad_scopes_and_lifetimes(session, runner, args, message):
    session.add(User(email="kim@example.com", is_staff=True, password_hash="!"))
    session.commit()
    result = runner.invoke(args=["staff", "token", "kim@example.com", *args])
    assert result.exit_code == 2 and message in result.output
    assert count(session, ApiToken) == 0


# -- tokens: expiry ----------------------------------------------------------------------------------


def test_an_expired_token_is_refused(session, runner, api, time_machine):
    add_product(session, "TEA", 10)
    time_machine.move_to(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=False)
    token = token_with(session, runner, days=7)
    assert api.get("/products/TEA/movements", token=token).status_code == 200
    time_machine.move_to(datetime(2026, 12, 8, 9, 1, tzinfo=UTC), tick=False)
    for method, path, body in (
        ("GET", "/products/TEA/movements", None),
        ("GET", "/products", None),  # a public endpoint too: a token, if sent, must be live
        ("POST", "/products/TEA/adjustments", {"delta": 5, "reason": "restock"}),
    ):
        response = api.request(method, path, json_body=body, token=token)
        assert response.status_code == 401, path
        assert "expired" in response.json["detail"]
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert stock_of(session, "TEA") == 10


def test_the_tokens_command_shows_scopes_expiry_and_last_use(session, runner, api):
    add_product(session, "TEA", 10)
    token = token_with(session, runner, "read", days=30)

    def listing() -> dict[str, str]:
        result = runner.invoke(args=["staff", "tokens", "kim@example.com"])
        assert result.exit_code == 0, result.output
        assert token not in result.output
        header, line = result.output.splitlines()[:2]
        columns = ["SCOPES", "CREATED", "LAST USED", "EXPIRES", "REVOKED"]
        starts = [header.index(c) for c in columns] + [len(line)]
        return {c: line[a:b].strip() for c, a, b in zip(columns, starts, starts[1:], strict=False)}

    assert listing()["LAST USED"] == "-"
    assert api.get("/products/TEA/movements", token=token).status_code == 200
    shown = listing()
    assert shown["SCOPES"] == "read"
    assert shown["LAST USED"].startswith(utcnow().strftime("%Y-%m-%d"))
    assert shown["EXPIRES"].startswith((utcnow() + timedelta(days=30)).strftime("%Y-%m-%d"))
    assert shown["REVOKED"] == "-"


# -- idempotency keys are forgotten after 24 hours ---------------------------------------------------


def test_a_key_is_forgotten_24_hours_after_its_order(session, api, time_machine):
    add_product(session, "TEA", 10)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    first = api.post("/orders", order_body(("TEA", 1), status="draft"), key="nightly-sync")
    assert first.status_code == 201
    time_machine.move_to(start + timedelta(hours=23, minutes=59), tick=False)
    still_known = api.post("/orders", order_body(("TEA", 2), status="draft"), key="nightly-sync")
    assert (still_known.status_code, still_known.json["code"]) == (409, "idempotency_key_reused")
    replay = api.post("/orders", order_body(("TEA", 1), status="draft"), key="nightly-sync")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json["number"] == first.json["number"]

    time_machine.move_to(start + timedelta(hours=24, minutes=1), tick=False)
    fresh = api.post("/orders", order_body(("TEA", 2), status="draft"), key="nightly-sync")
    assert fresh.status_code == 201 and fresh.headers["Idempotent-Replayed"] == "false"
    assert fresh.json["number"] != first.json["number"]
    again = api.post("/orders", order_body(("TEA", 1), status="draft"), key="nightly-sync")
    assert again.status_code == 409  # the key now belongs to the new order, for 24 hours
    assert count(session, Order) == 2
    assert session.scalars(select(IdempotencyKey.order_id)).all() == [
        session.scalar(select(Order.id).where(Order.number == fresh.json["number"]))
    ]


def test_an_expired_key_is_not_replayed_even_when_the_order_is_refused(session, api, time_machine):
    """A refused order writes nothing, so it used to fall back on the stored answer: not once the key is old."""
    add_product(session, "TEA", 1)
    _, token = make_staff(session)  # a staff order is no hold: its stock stays taken
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    assert api.post("/orders", order_body(("TEA", 1)), key="k", token=token).status_code == 201
    time_machine.move_to(start + timedelta(days=2), tick=False)
    response = api.post("/orders", order_body(("TEA", 1)), key="k", token=token)
    assert (response.status_code, response.json["code"]) == (409, "order_refused")
    assert count(session, IdempotencyKey) == 0  # the expired key went


def test_expired_keys_are_purged_when_a_new_key_is_stored_and_by_the_command(
    app, session, api, runner, time_machine
):
    add_product(session, "TEA", 50)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    for n in range(3):
        assert api.post("/orders", order_body(("TEA", 1), status="draft"), key=f"old-{n}").status_code == 201
    time_machine.move_to(start + timedelta(hours=25), tick=False)
    assert api.post("/orders", order_body(("TEA", 1), status="draft"), key="new-0").status_code == 201
    assert sorted(session.scalars(select(IdempotencyKey.key)).all()) == ["new-0"]  # purged on the way
    session.rollback()

    for n in range(2):  # written within 10 minutes of that purge: this process does not purge again
        assert (
            api.post("/orders", order_body(("TEA", 1), status="draft"), key=f"day-2-{n}").status_code == 201
        )
    time_machine.move_to(start + timedelta(hours=50), tick=False)
    assert count(session, IdempotencyKey) == 3  # expired, ignored, not yet purged
    session.rollback()
    result = runner.invoke(args=["api", "purge-keys"])
    assert result.exit_code == 0, result.output
    assert "Purged 3 idempotency key(s)" in result.output
    assert count(session, IdempotencyKey) == 0
    assert count(session, Order) == 6  # the orders stay; only the stored answers go
