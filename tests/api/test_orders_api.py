"""POST /orders, GET /orders/{number}, POST /orders/{number}/status: success and refusal paths."""

import pytest
from sqlalchemy import select

from shop.api.models import IdempotencyKey
from shop.models import InventoryMovement, Order
from tests.support.api import order_body
from tests.support.factories import add_product
from tests.support.readers import count, counts, movements, stock_of


def test_creating_a_confirmed_order_takes_stock_and_answers_201(session, api, keys):
    add_product(session, "TEA", 10, price_cents=450)
    add_product(session, "CUP", 5, price_cents=1200)
    response = api.post("/orders", order_body(("TEA", 3), ("CUP", 1)), key=keys())
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "confirmed"
    assert body["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert [
        (line["sku"], line["quantity"], line["unit_price_cents"], line["line_total_cents"])
        for line in body["lines"]
    ] == [("TEA", 3, 450, 1350), ("CUP", 1, 1200, 1200)]
    assert body["totals"] == {"lines": 2, "quantity": 4, "total_cents": 2550}
    assert body["stock_committed_at"] is not None
    assert response.headers["Location"] == f"/api/v1/orders/{body['number']}"
    assert response.headers["Idempotent-Replayed"] == "false"
    assert (stock_of(session, "TEA"), stock_of(session, "CUP")) == (7, 4)
    placed = movements(session, reason="order_placed")
    assert {m.actor for m in placed} == {"api"}


def test_a_draft_takes_no_stock(session, api, keys):
    add_product(session, "TEA", 10)
    response = api.post("/orders", order_body(("TEA", 3), status="draft"), key=keys())
    assert response.status_code == 201
    assert response.json["status"] == "draft"
    assert response.json["stock_committed_at"] is None
    assert stock_of(session, "TEA") == 10


def test_a_paid_order_needs_a_staff_token(session, api, keys, staff_token):
    add_product(session, "TEA", 10)
    refused = api.post("/orders", order_body(("TEA", 1), status="paid"), key=keys())
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert count(session, Order) == 0
    created = api.post("/orders", order_body(("TEA", 1), status="paid"), key=keys(), token=staff_token)
    assert created.status_code == 201
    assert created.json["status"] == "paid"
    assert [m.actor for m in movements(session, reason="order_placed")] == ["staff:staff@example.com"]


def test_a_refused_order_lists_every_problem_and_writes_nothing(session, api, keys):
    add_product(session, "TEA", 2)
    add_product(session, "OLD", 5, status="discontinued")
    add_product(session, "OFF", 5, status="unavailable")
    add_product(session, "BARE", None)
    before = counts(session)
    response = api.post(
        "/orders", order_body(("TEA", 3), ("OLD", 1), ("OFF", 1), ("BARE", 1), ("NOPE", 4)), key=keys()
    )
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["code"] == "order_refused"
    assert (body["status"], body["title"], body["type"]) == (409, "Conflict", "about:blank")
    problems = {p["sku"]: p for p in body["problems"]}
    assert {sku: p["code"] for sku, p in problems.items()} == {
        "TEA": "insufficient_stock",
        "OLD": "discontinued",
        "OFF": "unavailable",
        "BARE": "no_inventory",
        "NOPE": "unknown_product",
    }
    assert (problems["TEA"]["requested"], problems["TEA"]["available"]) == (3, 2)
    assert all(p["message"] for p in body["problems"])
    assert counts(session) == before
    assert count(session, IdempotencyKey) == 0
    assert stock_of(session, "TEA") == 2


def test_shortages_are_summed_across_duplicate_lines(session, api, keys, staff_token):
    add_product(session, "TEA", 5)
    response = api.post("/orders", order_body(("TEA", 3), ("TEA", 3)), key=keys(), token=staff_token)
    assert response.status_code == 409
    assert [(p["code"], p["requested"], p["available"]) for p in response.json["problems"]] == [
        ("insufficient_stock", 6, 5)
    ]


# -- idempotency ----------------------------------------------------------------------------


def test_the_same_key_and_body_answer_the_original_response_once(session, api):
    add_product(session, "TEA", 10)
    first = api.post("/orders", order_body(("TEA", 2)), key="retry-me")
    second = api.post("/orders", order_body(("TEA", 2)), key="retry-me")
    assert first.status_code == second.status_code == 201
    assert second.get_data() == first.get_data()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert count(session, Order) == 1
    assert stock_of(session, "TEA") == 8


def test_a_retry_is_answered_from_the_key_even_when_the_stock_is_gone(session, api):
    """The retried order would now be refused (no stock, product discontinued): the key still answers."""
    tea = add_product(session, "TEA", 2)
    first = api.post("/orders", order_body(("TEA", 2)), key="last-units")
    tea.status = "discontinued"
    session.commit()
    second = api.post("/orders", order_body(("TEA", 2)), key="last-units")
    assert first.status_code == second.status_code == 201
    assert second.get_data() == first.get_data()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(session, Order) == 1
    assert stock_of(session, "TEA") == 0
    assert len(movements(session, "TEA", reason="order_placed")) == 1


def test_the_body_is_compared_by_content_not_by_spelling(session, api):
    add_product(session, "TEA", 10)
    first = api.post("/orders", order_body(("TEA", 2)), key="k")
    spelled_otherwise = (
        '{"lines": [{"quantity": 2, "sku": "TEA"}],  "customer": {"email": "ada@example.com",'
        ' "name": "Ada Lovelace"}, "status": "confirmed"}'
    )
    second = api.post("/orders", data=spelled_otherwise, content_type="application/json", key="k")
    assert second.status_code == 201
    assert second.get_data() == first.get_data()
    assert count(session, Order) == 1


def test_the_same_key_with_another_body_is_a_conflict(session, api):
    add_product(session, "TEA", 10)
    api.post("/orders", order_body(("TEA", 2)), key="once")
    response = api.post("/orders", order_body(("TEA", 3)), key="once")
    assert response.status_code == 409
    assert response.json["code"] == "idempotency_key_reused"
    assert count(session, Order) == 1
    assert stock_of(session, "TEA") == 8


def test_different_keys_create_different_orders(session, api):
    add_product(session, "TEA", 10)
    first = api.post("/orders", order_body(("TEA", 2)), key="a")
    second = api.post("/orders", order_body(("TEA", 2)), key="b")
    assert first.json["number"] != second.json["number"]
    assert count(session, Order) == 2


def test_keys_are_case_sensitive_on_every_database(session, api):
    add_product(session, "TEA", 10)
    lower = api.post("/orders", order_body(("TEA", 1)), key="abc")
    upper = api.post("/orders", order_body(("TEA", 2)), key="ABC")
    assert (lower.status_code, upper.status_code) == (201, 201)
    assert count(session, Order) == 2


def test_a_refused_order_does_not_use_up_its_key(session, api):
    tea = add_product(session, "TEA", 1)
    refused = api.post("/orders", order_body(("TEA", 2)), key="later")
    assert refused.status_code == 409
    tea.inventory.quantity = 5  # a restock, ledgered by the observer
    session.commit()
    created = api.post("/orders", order_body(("TEA", 2)), key="later")
    assert created.status_code == 201
    assert stock_of(session, "TEA") == 3


def test_the_key_row_points_at_the_order_and_stores_the_response(session, api):
    add_product(session, "TEA", 10)
    response = api.post("/orders", order_body(("TEA", 1)), key="stored")
    record = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "stored"))
    assert record.order.number == response.json["number"]
    assert (record.response_status, record.response_body) == (201, response.get_data(as_text=True))
    assert len(record.request_hash) == 64


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_idempotency_key"),
        ({"Idempotency-Key": ""}, "invalid_idempotency_key"),
        ({"Idempotency-Key": "has space"}, "invalid_idempotency_key"),
        ({"Idempotency-Key": "x" * 256}, "invalid_idempotency_key"),
    ],
)
def test_the_idempotency_key_is_required_and_checked(session, api, headers, code):
    add_product(session, "TEA", 10)
    response = api.post("/orders", order_body(("TEA", 1)), headers=headers)
    assert response.status_code == 400
    assert response.json["code"] == code
    assert count(session, Order) == 0


# -- reading --------------------------------------------------------------------------------


def test_an_order_is_found_by_its_number_in_any_case(session, api, keys):
    add_product(session, "TEA", 10)
    created = api.post("/orders", order_body(("TEA", 2)), key=keys()).json
    for number in (created["number"], created["number"].lower()):
        response = api.get(f"/orders/{number}")
        assert response.status_code == 200
        assert response.json == created


@pytest.mark.parametrize("number", ["AAAA-BBBB-CCCC-DDDD", "not an order", "x" * 64, "%00"])
def test_an_unknown_order_is_404(session, api, number):
    response = api.get(f"/orders/{number}")
    assert response.status_code == 404
    assert response.json["code"] == "order_not_found"


# -- status changes -------------------------------------------------------------------------


@pytest.fixture
def draft(session, api, keys):
    add_product(session, "TEA", 10)
    return api.post("/orders", order_body(("TEA", 4), status="draft"), key=keys()).json["number"]


def test_staff_confirm_a_draft_which_takes_stock(session, api, draft, staff_token):
    response = api.post(f"/orders/{draft}/status", {"status": "confirmed"}, token=staff_token)
    assert response.status_code == 200
    assert response.json["status"] == "confirmed"
    assert response.json["stock_committed_at"] is not None
    assert api.get(f"/orders/{draft}").json == response.json  # the answer shows what was stored
    assert stock_of(session, "TEA") == 6
    assert [m.actor for m in movements(session, reason="order_placed")] == ["staff:staff@example.com"]


def test_cancelling_a_confirmed_order_returns_its_stock_once(session, api, draft, staff_token):
    for status in ("paid", "cancelled", "cancelled"):
        response = api.post(f"/orders/{draft}/status", {"status": status}, token=staff_token)
        assert response.status_code == 200
        assert response.json["status"] == status
    assert stock_of(session, "TEA") == 10
    assert len(movements(session, reason="order_cancelled")) == 1


def test_a_transition_outside_the_rules_is_409(session, api, draft, staff_token):
    api.post(f"/orders/{draft}/status", {"status": "cancelled"}, token=staff_token)
    response = api.post(f"/orders/{draft}/status", {"status": "confirmed"}, token=staff_token)
    assert response.status_code == 409
    assert response.json["code"] == "invalid_transition"
    assert response.json["problems"][0]["code"] == "invalid_transition"
    assert stock_of(session, "TEA") == 10


def test_confirming_a_draft_without_the_stock_lists_the_shortage(session, api, draft, staff_token):
    api.post("/products/TEA/adjustments", {"delta": -8, "reason": "adjustment"}, token=staff_token)
    response = api.post(f"/orders/{draft}/status", {"status": "confirmed"}, token=staff_token)
    assert response.status_code == 409
    assert response.json["code"] == "order_refused"
    assert [(p["sku"], p["requested"], p["available"]) for p in response.json["problems"]] == [("TEA", 4, 2)]
    assert session.scalar(select(Order.status).where(Order.number == draft)) == "draft"


def test_changing_a_status_needs_a_staff_token(session, api, draft):
    response = api.post(f"/orders/{draft}/status", {"status": "cancelled"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert session.scalar(select(Order.status).where(Order.number == draft)) == "draft"


@pytest.mark.parametrize("body", [{"status": "shipped"}, {"status": None}, {}, {"status": "paid", "x": 1}])
def test_a_bad_status_body_is_422(session, api, draft, staff_token, body):
    response = api.post(f"/orders/{draft}/status", body, token=staff_token)
    assert response.status_code == 422
    assert response.json["problems"]


def test_the_status_of_an_unknown_order_is_404(session, api, staff_token):
    response = api.post("/orders/AAAA-BBBB-CCCC-DDDD/status", {"status": "paid"}, token=staff_token)
    assert response.status_code == 404


def test_no_ledger_row_is_written_by_a_refused_status_change(session, api, draft, staff_token):
    before = count(session, InventoryMovement)
    api.post(f"/orders/{draft}/status", {"status": "cancelled"}, token=staff_token)
    api.post(f"/orders/{draft}/status", {"status": "paid"}, token=staff_token)
    assert count(session, InventoryMovement) == before
