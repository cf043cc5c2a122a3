"""The API with stock in several places: availability from the places that serve orders, staff reads with
each location's stock and each line's allocations, adjustments at a location, and POST /transfers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.api.auth import issue_token
from shop.models import User
from tests.support.api import order_body
from tests.support.factories import STAFF_EMAIL, add_place, add_product, make_staff
from tests.support.readers import counts, movements, stock_by_location


@pytest.fixture
def places(session):
    """main, a shop floor and a closed back room; TEA over all three, LOW only in the closed room and main."""
    add_place(session, "floor", priority=1)
    add_place(session, "back", priority=2, active=False)
    add_product(session, "TEA", at={"main": 3, "floor": 4, "back": 20}, threshold=2)
    add_product(session, "LOW", at={"main": 1, "back": 30}, threshold=2)
    return session


def test_strangers_see_availability_from_the_places_that_serve_orders_and_nothing_of_where(api, places):
    tea, low = api.get("/products").json["items"][1], api.get("/products/LOW").json
    assert (tea["sku"], tea["availability"], low["availability"]) == ("TEA", "in_stock", "low_stock")
    assert not {"stock", "locations"} & (set(tea) | set(low))


def test_staff_see_the_stock_and_each_location(api, places, staff_token):
    tea = api.get("/products/TEA", token=staff_token).json
    assert tea["stock"] == 7  # the closed back room's 20 do not count
    assert tea["locations"] == [
        {"code": "main", "quantity": 3},
        {"code": "floor", "quantity": 4},
        {"code": "back", "quantity": 20},
    ]
    listed = api.get("/products", token=staff_token).json["items"]
    assert [(p["sku"], p["stock"], len(p["locations"])) for p in listed] == [("LOW", 1, 2), ("TEA", 7, 3)]


def test_a_shortage_tells_strangers_and_staff_what_the_serving_places_have(api, places, keys, staff_token):
    refused = api.post("/orders", order_body(("TEA", 8)), key=keys(), token=staff_token)
    assert refused.status_code == 409
    (problem,) = refused.json["problems"]
    assert (problem["code"], problem["requested"], problem["available"]) == ("insufficient_stock", 8, 7)


def test_staff_see_where_each_line_was_taken_and_strangers_do_not(api, places, keys, staff_token):
    created = api.post("/orders", order_body(("TEA", 5), ("LOW", 1)), key=keys())
    assert created.status_code == 201 and "allocations" not in created.json["lines"][0]
    number = created.json["number"]
    assert all("allocations" not in line for line in api.get(f"/orders/{number}").json["lines"])
    lines = api.get(f"/orders/{number}", token=staff_token).json["lines"]
    assert [(line["sku"], line["allocations"]) for line in lines] == [
        ("TEA", [{"location": "main", "quantity": 3}, {"location": "floor", "quantity": 2}]),
        ("LOW", [{"location": "main", "quantity": 1}]),
    ]
    draft = api.post("/orders", order_body(("TEA", 1), status="draft"), key=keys()).json["number"]
    assert api.get(f"/orders/{draft}", token=staff_token).json["lines"][0]["allocations"] == []


def token_with(session, email: str, *scopes: str) -> str:
    """A committed staff account and a token of it holding only ``scopes``."""
    make_staff(session, email)
    user = session.scalar(select(User).where(User.email == email))
    _, token = issue_token(session, user, "scoped", scopes=set(scopes))
    session.commit()
    return token


def test_a_token_without_read_sees_no_allocations(session, api, places, keys):
    _, writer = make_staff(session, "writer@example.com")
    number = api.post("/orders", order_body(("TEA", 1)), key=keys()).json["number"]
    no_read = token_with(session, "other@example.com", "orders:write")
    assert "allocations" not in api.get(f"/orders/{number}", token=no_read).json["lines"][0]
    assert "allocations" in api.get(f"/orders/{number}", token=writer).json["lines"][0]


def test_staff_adjust_the_stock_at_a_location(session, api, places, staff_token):
    response = api.post(
        "/products/TEA/adjustments",
        {"delta": -4, "reason": "adjustment", "location": "floor"},
        token=staff_token,
    )
    assert response.status_code == 201
    assert (response.json["location"], response.json["quantity_after"]) == ("floor", 0)
    assert stock_by_location(session, "TEA") == {"main": 3, "floor": 0, "back": 20}
    refused = api.post(
        "/products/TEA/adjustments", {"delta": 1, "reason": "restock", "location": "attic"}, token=staff_token
    )
    assert refused.status_code == 422 and refused.json["code"] == "invalid_adjustment"
    assert refused.json["problems"][0]["code"] == "unknown_location"


def test_staff_move_stock_between_locations(session, api, places, staff_token):
    body = {"sku": "TEA", "quantity": 12, "from": "back", "to": "main", "note": "reopening"}
    response = api.post("/transfers", body, token=staff_token)
    assert response.status_code == 201, response.json
    answer = response.json
    assert answer["transfer_id"].startswith("trf_")
    assert {k: v for k, v in answer.items() if k != "transfer_id"} == {
        "sku": "TEA",
        "quantity": 12,
        "from": "back",
        "to": "main",
        "note": "reopening",
        "actor": f"staff:{STAFF_EMAIL}",
        "from_quantity_after": 8,
        "to_quantity_after": 15,
    }
    assert response.headers["Location"] == "/api/v1/products/TEA/movements"
    assert stock_by_location(session, "TEA") == {"main": 15, "floor": 4, "back": 8}
    page = api.get("/products/TEA/movements", token=staff_token).json["items"]
    assert {(m["location"], m["reason"], m["delta"], m["transfer_id"]) for m in page[:2]} == {
        ("back", "transfer_out", -12, answer["transfer_id"]),
        ("main", "transfer_in", 12, answer["transfer_id"]),
    }
    assert api.get("/products/TEA", token=staff_token).json["stock"] == 19  # 12 more where orders take from


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({"sku": "TEA", "quantity": 4, "from": "main", "to": "floor"}, [("insufficient_stock", 4, 3)]),
        ({"sku": "TEA", "quantity": 1, "from": "main", "to": "main"}, [("same_location", None, None)]),
        ({"sku": "TEA", "quantity": 1, "from": "attic", "to": "main"}, [("unknown_location", None, None)]),
        (
            {"sku": "NOPE", "quantity": 1, "from": "attic", "to": "cellar"},
            [
                ("unknown_product", None, None),
                ("unknown_location", None, None),
                ("unknown_location", None, None),
            ],
        ),
    ],
)
def test_a_refused_transfer_lists_every_problem_and_moves_nothing(
    session, api, places, staff_token, body, codes
):
    before = counts(session), stock_by_location(session, "TEA"), len(movements(session))
    response = api.post("/transfers", body, token=staff_token)
    assert response.status_code == 422 and response.json["code"] == "transfer_refused"
    assert [(p["code"], p["requested"], p["available"]) for p in response.json["problems"]] == codes
    assert (counts(session), stock_by_location(session, "TEA"), len(movements(session))) == before


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "TEA", "quantity": 0, "from": "main", "to": "floor"},
        {"sku": "TEA", "quantity": 1, "from": "main"},
        {"sku": "TEA", "quantity": 1, "source": "main", "target": "floor"},
        {"sku": "TEA", "quantity": 1, "from": "not a code", "to": "floor"},
    ],
)
def test_a_transfer_that_breaks_the_schema_is_422_invalid_request(api, places, staff_token, body):
    response = api.post("/transfers", body, token=staff_token)
    assert response.status_code == 422 and response.json["code"] == "invalid_request"


def test_a_transfer_needs_a_staff_token_with_stock_write(session, api, places):
    body = {"sku": "TEA", "quantity": 1, "from": "main", "to": "floor"}
    assert api.post("/transfers", body).status_code == 401
    reader = token_with(session, "reader@example.com", "read")
    response = api.post("/transfers", body, token=reader)
    assert response.status_code == 403 and response.json["code"] == "insufficient_scope"
    assert stock_by_location(session, "TEA") == {"main": 3, "floor": 4, "back": 20}
