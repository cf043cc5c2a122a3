"""GET /products, GET /products/{sku}; staff: PUT /products/{sku}, POST /products/{sku}/adjustments, GET …/movements."""

import threading

import pytest

from shop import products
from shop.extensions import db
from shop.models import Product, User
from tests.support.api import order_body
from tests.support.factories import add_product, make_staff
from tests.support.readers import count, counts, movements, stock_of


@pytest.fixture
def catalog(session):
    add_product(session, "A-IN", 10, threshold=2)
    add_product(session, "B-LOW", 2, threshold=2)
    add_product(session, "C-OUT", 0)
    add_product(session, "D-BARE", None)
    add_product(session, "E-OFF", 5, status="unavailable")
    add_product(session, "F-OLD", 5, status="discontinued")


def test_staff_see_the_stock_and_availability_of_the_catalog(session, api, catalog, staff_token):
    response = api.get("/products", token=staff_token)
    assert response.status_code == 200
    body = response.json
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 6)
    assert [(p["sku"], p["stock"], p["availability"]) for p in body["items"]] == [
        ("A-IN", 10, "in_stock"),
        ("B-LOW", 2, "low_stock"),
        ("C-OUT", 0, "out_of_stock"),
        ("D-BARE", None, "out_of_stock"),
        ("E-OFF", 5, "unavailable"),
        ("F-OLD", 5, "discontinued"),
    ]
    first = body["items"][0]
    assert first == {
        "sku": "A-IN",
        "name": "Product A-IN",
        "price_cents": 1000,
        "status": "active",
        "stock": 10,
        "locations": [{"code": "main", "quantity": 10}],
        "availability": "in_stock",
        "low_stock_threshold": 2,
        "max_per_order": None,
    }


def test_strangers_see_availability_but_never_the_exact_stock(session, api, catalog):
    listed = api.get("/products").json["items"]
    one = api.get("/products/B-LOW").json
    assert all("stock" not in p for p in [*listed, one])
    assert [(p["sku"], p["availability"]) for p in listed] == [
        ("A-IN", "in_stock"),
        ("B-LOW", "low_stock"),
        ("C-OUT", "out_of_stock"),
        ("D-BARE", "out_of_stock"),
        ("E-OFF", "unavailable"),
        ("F-OLD", "discontinued"),
    ]
    assert one["availability"] == "low_stock"


def test_the_catalog_is_paginated(session, api, catalog):
    pages = [api.get(f"/products?page={page}&per_page=4").json for page in (1, 2, 3)]
    assert [[p["sku"] for p in page["items"]] for page in pages] == [
        ["A-IN", "B-LOW", "C-OUT", "D-BARE"],
        ["E-OFF", "F-OLD"],
        [],
    ]
    assert {page["total"] for page in pages} == {6}


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=x",
        "per_page=0",
        "per_page=101",
        "page=1.5",
        "page=99999999999999999999",
        "per_page=",
    ],
)
def test_bad_paging_parameters_are_400(session, api, query):
    response = api.get(f"/products?{query}")
    assert response.status_code == 400
    assert response.json["code"] == "invalid_parameter"


def test_one_product(session, api, catalog):
    response = api.get("/products/B-LOW")
    assert response.status_code == 200
    assert (response.json["sku"], response.json["availability"]) == ("B-LOW", "low_stock")


@pytest.mark.parametrize("sku", ["NOPE", "a-in", "A-IN ", "%00", "x" * 65])
def test_an_unknown_product_is_404_exact_sku_only(session, api, catalog, sku):
    response = api.get(f"/products/{sku}")
    assert response.status_code == 404
    assert response.json["code"] == "product_not_found"


# -- adjustments (staff) --------------------------------------------------------------------


def test_staff_restock_with_a_ledger_row(session, api, catalog, staff_token):
    response = api.post(
        "/products/A-IN/adjustments", {"delta": 7, "reason": "restock", "note": "delivery"}, token=staff_token
    )
    assert response.status_code == 201
    assert response.json == {
        "sku": "A-IN",
        "location": "main",
        "delta": 7,
        "reason": "restock",
        "note": "delivery",
        "actor": "staff:staff@example.com",
        "quantity_after": 17,
    }
    assert response.headers["Location"] == "/api/v1/products/A-IN/movements"
    assert stock_of(session, "A-IN") == 17
    row = movements(session, "A-IN")[-1]
    assert (row.delta, row.reason, row.actor, row.note) == (
        7,
        "restock",
        "staff:staff@example.com",
        "delivery",
    )


def test_staff_remove_stock_with_an_adjustment(session, api, catalog, staff_token):
    response = api.post(
        "/products/A-IN/adjustments", {"delta": -4, "reason": "adjustment"}, token=staff_token
    )
    assert response.status_code == 201
    assert (response.json["quantity_after"], response.json["note"]) == (6, None)


def test_a_first_stock_for_an_unstocked_product(session, api, catalog, staff_token):
    response = api.post("/products/D-BARE/adjustments", {"delta": 3, "reason": "restock"}, token=staff_token)
    assert response.status_code == 201
    assert stock_of(session, "D-BARE") == 3


def test_removing_more_than_on_hand_is_409(session, api, catalog, staff_token):
    response = api.post(
        "/products/B-LOW/adjustments", {"delta": -3, "reason": "adjustment"}, token=staff_token
    )
    assert response.status_code == 409
    assert response.json["code"] == "adjustment_refused"
    assert [(p["code"], p["requested"], p["available"]) for p in response.json["problems"]] == [
        ("insufficient_stock", 3, 2)
    ]
    assert stock_of(session, "B-LOW") == 2


def test_a_negative_restock_is_422(session, api, catalog, staff_token):
    response = api.post("/products/A-IN/adjustments", {"delta": -1, "reason": "restock"}, token=staff_token)
    assert response.status_code == 422
    assert response.json["code"] == "invalid_adjustment"
    assert response.json["problems"][0]["code"] == "invalid_delta"
    assert stock_of(session, "A-IN") == 10


def test_adjusting_an_unknown_product_is_404(session, api, staff_token):
    response = api.post("/products/NOPE/adjustments", {"delta": 1, "reason": "restock"}, token=staff_token)
    assert response.status_code == 404


def test_adjustments_need_a_staff_token(session, api, catalog):
    response = api.post("/products/A-IN/adjustments", {"delta": 1, "reason": "restock"})
    assert response.status_code == 401
    assert stock_of(session, "A-IN") == 10


def test_a_token_of_an_account_that_is_no_longer_staff_is_403(session, api, catalog):
    user, token = make_staff(session, "former@example.com")
    session.get(User, user.id).is_staff = False
    session.commit()
    for response in (
        api.post("/products/A-IN/adjustments", {"delta": 1, "reason": "restock"}, token=token),
        api.get("/products/A-IN/movements", token=token),
        api.get("/products", token=token),
    ):
        assert response.status_code == 403
        assert response.json["code"] == "forbidden"
    assert stock_of(session, "A-IN") == 10


# -- movements (staff) ----------------------------------------------------------------------


def test_the_ledger_newest_first_with_order_numbers(session, api, catalog, staff_token):
    number = api.post("/orders", order_body(("A-IN", 3)), key="k").json["number"]
    api.post("/products/A-IN/adjustments", {"delta": 5, "reason": "restock"}, token=staff_token)
    response = api.get("/products/A-IN/movements", token=staff_token)
    assert response.status_code == 200
    items = response.json["items"]
    assert [(m["reason"], m["delta"], m["quantity_after"], m["order_number"], m["actor"]) for m in items] == [
        ("restock", 5, 12, None, "staff:staff@example.com"),
        ("order_placed", -3, 7, number, "api"),
        ("initial_stock", 10, 10, None, "test"),
    ]
    assert response.json["total"] == 3


def test_the_ledger_is_paginated(session, api, catalog, staff_token):
    for _ in range(4):
        api.post("/products/A-IN/adjustments", {"delta": 1, "reason": "restock"}, token=staff_token)
    first = api.get("/products/A-IN/movements?per_page=3", token=staff_token).json
    second = api.get("/products/A-IN/movements?per_page=3&page=2", token=staff_token).json
    assert [m["quantity_after"] for m in first["items"] + second["items"]] == [14, 13, 12, 11, 10]
    assert first["total"] == second["total"] == 5


def test_the_ledger_needs_a_staff_token(session, api, catalog):
    assert api.get("/products/A-IN/movements").status_code == 401


def test_the_ledger_of_an_unknown_product_is_404(session, api, staff_token):
    assert api.get("/products/NOPE/movements", token=staff_token).status_code == 404


# -- PUT /products/{sku}: create or replace a product's details ---------------------------------------

SENCHA = {
    "name": "Sencha green tea, 100 g",
    "price_cents": 1250,
    "status": "active",
    "low_stock_threshold": 4,
    "max_per_order": 6,
    "initial_stock": 40,
}


def test_put_creates_a_product_with_one_initial_stock_ledger_row(session, api, staff_token):
    response = api.put("/products/TEA-NEW", SENCHA, token=staff_token)
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/products/TEA-NEW"
    assert response.json == {
        "sku": "TEA-NEW",
        "name": "Sencha green tea, 100 g",
        "price_cents": 1250,
        "status": "active",
        "stock": 40,
        "locations": [{"code": "main", "quantity": 40}],
        "availability": "in_stock",
        "low_stock_threshold": 4,
        "max_per_order": 6,
    }
    assert [(m.reason, m.delta, m.actor) for m in movements(session, "TEA-NEW")] == [
        ("initial_stock", 40, "staff:staff@example.com")
    ]
    assert api.get("/products/TEA-NEW").json["availability"] == "in_stock"


def test_put_with_only_the_required_members_takes_the_defaults(session, api, staff_token):
    response = api.put("/products/CUP", {"name": "Cup", "price_cents": 0}, token=staff_token)
    assert response.status_code == 201
    body = response.json
    assert (body["status"], body["low_stock_threshold"], body["max_per_order"], body["stock"]) == (
        "active",
        5,
        None,
        0,
    )
    assert movements(session, "CUP") == []  # no stock: nothing to ledger


def test_put_on_an_existing_product_replaces_its_details_but_never_its_stock(session, api, staff_token):
    add_product(session, "TEA", 7)
    response = api.put(
        "/products/TEA",
        {"name": "Assam", "price_cents": 990, "status": "unavailable", "initial_stock": 500},
        token=staff_token,
    )
    assert response.status_code == 200 and "Location" not in response.headers
    body = response.json
    assert (body["name"], body["price_cents"], body["status"], body["stock"]) == (
        "Assam",
        990,
        "unavailable",
        7,
    )
    assert (body["low_stock_threshold"], body["max_per_order"]) == (5, None)  # left out: the defaults
    assert stock_of(session, "TEA") == 7 and len(movements(session, "TEA")) == 1


def test_the_same_put_twice_is_the_same_product(session, api, staff_token):
    first = api.put("/products/TEA-NEW", SENCHA, token=staff_token)
    again = api.put("/products/TEA-NEW", SENCHA, token=staff_token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json == again.json
    assert stock_of(session, "TEA-NEW") == 40 and len(movements(session, "TEA-NEW")) == 1


@pytest.mark.parametrize(
    "sku, body, code, pointers",
    [
        ("BAD SKU", SENCHA, "invalid_product", [None]),
        ("-X", SENCHA, "invalid_product", [None]),
        ("TEA-NEW", {**SENCHA, "name": "  "}, "invalid_request", ["/name"]),
        ("TEA-NEW", {**SENCHA, "name": "x" * 201}, "invalid_request", ["/name"]),
        ("TEA-NEW", {**SENCHA, "price_cents": -1}, "invalid_request", ["/price_cents"]),
        ("TEA-NEW", {**SENCHA, "price_cents": 100_000_001}, "invalid_request", ["/price_cents"]),
        ("TEA-NEW", {**SENCHA, "price_cents": "12"}, "invalid_request", ["/price_cents"]),
        ("TEA-NEW", {**SENCHA, "max_per_order": 0}, "invalid_request", ["/max_per_order"]),
        ("TEA-NEW", {**SENCHA, "initial_stock": -1}, "invalid_request", ["/initial_stock"]),
        ("TEA-NEW", {**SENCHA, "status": "deleted"}, "invalid_request", ["/status"]),
        ("TEA-NEW", {**SENCHA, "stock": 5}, "invalid_request", ["/stock"]),
        ("TEA-NEW", {"price_cents": 5}, "invalid_request", ["/name"]),
    ],
)
def test_a_bad_product_is_refused_with_every_problem_and_nothing_is_written(
    session, api, staff_token, sku, body, code, pointers
):
    before = counts(session), count(session, Product)
    response = api.put(f"/products/{sku.replace(' ', '%20')}", body, token=staff_token)
    assert response.status_code == 422
    assert response.json["code"] == code
    assert [p.get("pointer") for p in response.json["problems"]] == pointers
    assert (counts(session), count(session, Product)) == before


def test_the_product_rules_are_those_of_the_import_and_the_dashboard(session, api, staff_token):
    response = api.put("/products/BAD%20SKU", SENCHA, token=staff_token)
    assert response.json["problems"][0]["message"] == products.sku_problem("BAD SKU").message
    assert response.json["problems"][0]["code"] == "invalid_sku"


def test_put_needs_a_staff_token(session, api, staff_token):
    assert api.put("/products/TEA-NEW", SENCHA).status_code == 401
    _, customer = make_staff(session, "customer@example.com", is_staff=False)
    assert api.put("/products/TEA-NEW", SENCHA, token=customer).status_code == 403
    assert api.put("/products/TEA-NEW", SENCHA, token="shop_not-a-token").status_code == 401
    assert count(session, Product) == 0


def test_put_needs_a_json_body(session, api, staff_token):
    assert (
        api.request(
            "PUT", "/products/X", data="name=x", content_type="text/plain", token=staff_token
        ).status_code
        == 415
    )
    assert (
        api.request(
            "PUT", "/products/X", data="{", content_type="application/json", token=staff_token
        ).status_code
        == 400
    )


def test_two_puts_creating_one_sku_at_once_both_succeed(server_app):
    """The second INSERT fails on the unique SKU; it is retried as an update of the first one's product."""
    with server_app.app_context():
        _, token = make_staff(db.session)
        db.session.remove()
    barrier = threading.Barrier(2)
    answers = []

    def put(price):
        client = server_app.test_client()
        barrier.wait()
        response = client.put(
            "/api/v1/products/RACE",
            json={**SENCHA, "price_cents": price},
            headers={"Authorization": f"Bearer {token}"},
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=put, args=(price,)) for price in (100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [200, 201]
    with server_app.app_context():
        assert stock_of(db.session, "RACE") == 40 and len(movements(db.session, "RACE")) == 1
        db.session.remove()
