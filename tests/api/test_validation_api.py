"""Bad input is a clear 4xx problem, never a 500, and writes nothing."""

import json
import re
import time
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from shop import stock
from shop.api.models import IdempotencyKey
from shop.models import Product
from shop.payments import signature
from tests.support.api import document, order_body
from tests.support.factories import add_product
from tests.support.readers import count, counts, stock_of

GOOD = order_body(("TEA", 1))


def with_(path, value, body=None):
    """A copy of ``body`` (default: a good order) with ``value`` at ``path`` (``...`` deletes it)."""
    body = json.loads(json.dumps(body or GOOD))
    *parents, last = path
    target = body
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.fixture
def tea(session):
    return add_product(session, "TEA", 10)


def assert_nothing_written(session, before):
    assert counts(session) == before
    assert count(session, IdempotencyKey) == 0
    assert stock_of(session, "TEA") == 10


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        (with_(["lines", 0, "quantity"], -3), "invalid_quantity", "/lines/0/quantity"),
        (with_(["lines", 0, "quantity"], 0), "invalid_quantity", "/lines/0/quantity"),
        (
            with_(["lines", 0, "quantity"], stock.MAX_LINE_QUANTITY + 1),
            "quantity_too_large",
            "/lines/0/quantity",
        ),
        (with_(["lines", 0, "quantity"], 10**30), "quantity_too_large", "/lines/0/quantity"),
        (with_(["lines", 0, "quantity"], "2"), "invalid_quantity", "/lines/0/quantity"),
        (with_(["lines", 0, "quantity"], 2.5), "invalid_quantity", "/lines/0/quantity"),
        (with_(["lines", 0, "quantity"], True), "invalid_quantity", "/lines/0/quantity"),
        (with_(["lines", 0, "quantity"], ...), "missing_field", "/lines/0/quantity"),
        (with_(["lines", 0, "sku"], 7), "invalid_type", "/lines/0/sku"),
        (with_(["lines", 0, "sku"], ""), "invalid_value", "/lines/0/sku"),
        (with_(["lines", 0, "sku"], "TEA\u0000"), "invalid_value", "/lines/0/sku"),
        (with_(["lines", 0, "colour"], "red"), "unknown_field", "/lines/0/colour"),
        (with_(["lines"], []), "invalid_value", "/lines"),
        (with_(["lines"], {"sku": "TEA"}), "invalid_type", "/lines"),
        (
            with_(["lines"], [{"sku": "TEA", "quantity": 1}] * (stock.MAX_LINES + 1)),
            "invalid_value",
            "/lines",
        ),
        (with_(["status"], "cancelled"), "invalid_value", "/status"),
        (with_(["status"], ...), "missing_field", "/status"),
        (with_(["customer", "name"], "   "), "invalid_value", "/customer/name"),
        (with_(["customer", "name"], "x" * 201), "invalid_value", "/customer/name"),
        (with_(["customer", "email"], "not-an-address"), "invalid_value", "/customer/email"),
        (with_(["customer", "email"], "ada @example.com"), "invalid_value", "/customer/email"),
        (with_(["customer"], "Ada"), "invalid_type", "/customer"),
        (with_(["coupon"], "FREE"), "unknown_field", "/coupon"),
        ([GOOD], "invalid_type", ""),
        ("order", "invalid_type", ""),
        (None, "invalid_type", ""),
    ],
)
def test_a_body_outside_the_schema_is_422_with_a_pointer(session, api, tea, body, code, pointer):
    before = counts(session)
    response = api.post("/orders", data=json.dumps(body), content_type="application/json", key="k")
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_request"
    assert (code, pointer) in [(p["code"], p["pointer"]) for p in response.json["problems"]]
    assert_nothing_written(session, before)


def test_every_validation_problem_is_listed_with_the_line_sku(session, api, tea):
    body = order_body(("TEA", -1), ("CUP", 20_000))
    body["customer"]["email"] = "nope"
    body["gift"] = True
    response = api.post("/orders", body, key="k")
    assert response.status_code == 422
    found = {(p["pointer"], p["code"], p["sku"], p["requested"]) for p in response.json["problems"]}
    assert found == {
        ("/lines/0/quantity", "invalid_quantity", "TEA", None),
        ("/lines/1/quantity", "quantity_too_large", "CUP", 20_000),
        ("/customer/email", "invalid_value", None, None),
        ("/gift", "unknown_field", None, None),
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{", "malformed_json"),
        (b"", "malformed_json"),
        (b"   ", "malformed_json"),
        (b'{"status": NaN}', "malformed_json"),
        (b'{"lines": [{"quantity": Infinity}]}', "malformed_json"),
        (b"\xff\xfe\x00garbage", "malformed_json"),
        (b"[" * 100_00 + b"]" * 100_00, "malformed_json"),  # nested too deeply
        (b'{"lines": [{"sku": "TEA", "quantity": ' + b"9" * 5000 + b"}]}", "malformed_json"),
    ],
)
def test_malformed_json_is_400(session, api, tea, data, code):
    before = counts(session)
    response = api.post("/orders", data=data, content_type="application/json", key="k")
    assert response.status_code == 400
    assert response.json["code"] == code
    assert_nothing_written(session, before)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_is_415(session, api, tea, content_type):
    before = counts(session)
    response = api.post("/orders", data=json.dumps(GOOD), content_type=content_type, key="k")
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    assert_nothing_written(session, before)


def test_json_with_a_charset_is_fine(session, api, tea):
    response = api.post(
        "/orders", data=json.dumps(GOOD), content_type="application/json; charset=utf-8", key="k"
    )
    assert response.status_code == 201


def test_an_oversized_body_is_413(session, api, tea):
    before = counts(session)
    body = with_(["customer", "name"], "x" * (64 * 1024))
    response = api.post("/orders", body, key="k")
    assert response.status_code == 413
    assert response.json["code"] == "body_too_large"
    assert_nothing_written(session, before)


def test_the_limit_is_the_api_s_own(app, session, api, tea):
    """64 KiB for the API, whatever the rest of the app allows (the web UI may take uploads)."""
    app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024
    response = api.post("/orders", with_(["customer", "name"], "x" * (70 * 1024)), key="k")
    assert response.status_code == 413


def test_the_largest_valid_order_fits_under_the_limit(session, api, tea, staff_token):
    body = order_body(*[("TEA", 1)] * stock.MAX_LINES, status="draft")
    assert len(json.dumps(body)) < 64 * 1024
    response = api.post("/orders", body, key="big")
    assert response.status_code == 201
    assert response.json["totals"]["lines"] == stock.MAX_LINES
    replay = api.post("/orders", body, key="big")  # the stored response is long: it must come back whole
    assert replay.get_data() == response.get_data()


def test_adjustment_bodies_are_validated(session, api, tea, staff_token):
    cases = [
        ({"delta": 0, "reason": "restock"}, "/delta"),
        ({"delta": "5", "reason": "restock"}, "/delta"),
        ({"delta": stock.MAX_ADJUSTMENT + 1, "reason": "restock"}, "/delta"),
        ({"delta": 5, "reason": "theft"}, "/reason"),
        ({"delta": 5, "reason": "restock", "note": "x" * 501}, "/note"),
        ({"delta": 5, "reason": "restock", "note": "a\u0000b"}, "/note"),
        ({"delta": 5, "reason": "restock", "by": "me"}, "/by"),
        ({"reason": "restock"}, "/delta"),
    ]
    for body, pointer in cases:
        response = api.post("/products/TEA/adjustments", body, token=staff_token)
        assert response.status_code == 422, body
        assert pointer in [p["pointer"] for p in response.json["problems"]], body
    assert stock_of(session, "TEA") == 10


def test_unknown_api_paths_and_methods_are_problems_too(session, api):
    missing = api.get("/nowhere")
    assert (missing.status_code, missing.mimetype) == (404, "application/problem+json")
    wrong = api.request("DELETE", "/orders")
    assert (wrong.status_code, wrong.mimetype) == (405, "application/problem+json")
    assert "POST" in wrong.headers["Allow"]


# -- the document and the shop agree on every body (tests/api/test_fuzz_api.py fuzzes it) ----------


def test_whole_numbers_written_with_a_fraction_are_the_integers_they_are(session, api, tea, staff_token):
    created = api.post("/orders", order_body(("TEA", 2.0)), key="k")
    assert created.status_code == 201 and created.json["lines"][0]["quantity"] == 2
    same = api.post("/orders", order_body(("TEA", 2)), key="k")  # the same body: replayed, not reused
    assert same.status_code == 201 and same.headers["Idempotent-Replayed"] == "true"
    product = {"name": "Cup", "price_cents": 1.25e3, "low_stock_threshold": 3.0, "initial_stock": 1e1}
    put = api.put("/products/CUP", product, token=staff_token)
    assert put.status_code == 201, put.json
    assert (put.json["price_cents"], put.json["low_stock_threshold"], put.json["stock"]) == (1250, 3, 10)
    adjusted = api.post(
        "/products/CUP/adjustments", {"delta": -4.0, "reason": "adjustment"}, token=staff_token
    )
    assert adjusted.status_code == 201 and adjusted.json["quantity_after"] == 6
    assert stock_of(session, "TEA") == 8


@pytest.mark.parametrize("quantity", ["2.5", "1.0000000000000001", "1e-400", "1e30"])
def test_numbers_that_are_no_small_integers_are_refused(session, api, tea, quantity):
    body = json.dumps(order_body(("TEA", 1))).replace('"quantity": 1', f'"quantity": {quantity}')
    response = api.post("/orders", data=body, content_type="application/json", key="k")
    assert response.status_code == 422 and response.json["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["customer", "name"], "Ada\u0007"),
        (["customer", "name"], "\ufeff"),  # a space to the document's \s (ECMA-262), not to Python's
        (["customer", "name"], "\u0085\u00a0"),
        (["customer", "email"], "ada@example.com\u001f"),
        (["customer", "email"], "ada@exa\ufeffmple.com"),
        (["lines", 0, "sku"], "TEA\u009f"),
    ],
)
def test_control_characters_and_blank_names_are_refused_as_the_document_says(session, api, tea, path, value):
    before = counts(session)
    response = api.post("/orders", with_(path, value), key="k")
    assert response.status_code == 422, response.json
    assert "/" + "/".join(map(str, path)) in [p["pointer"] for p in response.json["problems"]]
    assert_nothing_written(session, before)


def test_the_document_s_patterns_spell_their_character_classes_out():
    """``\\s``, ``\\d``, ``\\w`` mean different things to Python and to ECMA-262: none may appear."""
    patterns = re.findall(r'"pattern": ("(?:[^"\\]|\\.)*")', json.dumps(document()))
    assert len(patterns) >= 6
    for pattern in map(json.loads, patterns):
        assert not re.search(r"\\[sSdDwWbB]", pattern), pattern


def test_a_negative_restock_is_refused_by_the_document_and_the_shop(session, api, tea, staff_token):
    schema = {"$ref": "#/components/schemas/AdjustmentCreate", "components": document()["components"]}
    body = {"delta": -1, "reason": "restock"}
    assert not Draft202012Validator(schema).is_valid(body)
    assert Draft202012Validator(schema).is_valid({"delta": -1, "reason": "adjustment"})
    response = api.post("/products/TEA/adjustments", body, token=staff_token)
    assert response.status_code == 422 and response.json["code"] == "invalid_adjustment"
    assert stock_of(session, "TEA") == 10


@pytest.mark.parametrize("sku", ["OLD SKU", "-TEA", "TEA\u0007"])
def test_put_refuses_a_sku_off_the_pattern_even_for_a_product_that_has_one(session, api, staff_token, sku):
    add_product(session, sku, 3)  # written around the rules, as plain SQL could
    response = api.put(f"/products/{quote(sku)}", {"name": "Renamed", "price_cents": 100}, token=staff_token)
    assert response.status_code == 422 and response.json["code"] == "invalid_product"
    assert [p["code"] for p in response.json["problems"]] == ["invalid_sku"]
    session.expire_all()
    assert session.scalar(select(Product.name).where(Product.sku == sku)) != "Renamed"


def test_a_payment_id_with_control_characters_is_refused_by_its_pattern(session, api, app):
    app.config.update(SHOP_PAYMENT_SECRET="s")
    body = json.dumps({"payment_id": "p\u0000", "order_number": "X", "amount_cents": 1, "currency": "EUR"})
    t = int(time.time())
    response = api.request(
        "POST",
        "/payments",
        data=body,
        content_type="application/json",
        headers={"Shop-Signature": f"t={t},v1={signature('s', t, body.encode())}"},
    )
    assert response.status_code == 422
    assert "/payment_id" in [p["pointer"] for p in response.json["problems"]]
