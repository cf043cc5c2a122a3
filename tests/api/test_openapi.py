"""The OpenAPI document: valid OpenAPI 3.1, served, complete, and what the checks rely on."""

import json
import re
import time

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts, get_spec_version

from shop import create_app
from shop.api.openapi import ORDER_NUMBER_EXAMPLE
from shop.holds import hold_until
from shop.orders import place_order
from shop.payments import signature
from tests.support.api import API, assert_conforms, deref, document
from tests.support.factories import add_place


@pytest.fixture(scope="module")
def bare_app():
    """An app for looking at routes only: it never opens its database."""
    return create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert get_spec_version(doc) == consts.OPENAPIV31
    validate(doc)


def test_the_served_document_is_the_built_one(session, api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == json.loads(json.dumps(document()))


def test_every_api_route_and_method_is_documented_and_nothing_else(bare_app):
    served = set()
    for rule in bare_app.url_map.iter_rules():
        if rule.rule.startswith(API):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)  # <int:id> → {id}
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert served == documented


def takes_a_token(operation: dict) -> bool:
    return any("bearerAuth" in requirement for requirement in operation["security"])


def test_every_operation_documents_the_errors_it_can_answer():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if takes_a_token(operation):  # test_auth_api sends a wrong token to each of them: 401
                assert {"401", "403"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_every_tag_in_use_is_listed_and_every_listed_tag_is_used():
    doc = document()
    used = {tag for item in doc["paths"].values() for operation in item.values() for tag in operation["tags"]}
    assert used == {tag["name"] for tag in doc["tags"]}


# Operations with a body, in an order in which their documented examples all succeed.
EXAMPLE_RUN = [("putProduct", 201), ("createOrder", 201), ("receivePayment", 200), ("setOrderStatus", 200)]
EXAMPLE_RUN += [("adjustStock", 201), ("createTransfer", 201), ("createWebhookEndpoint", 201)]
PAYMENT_SECRET = "whsec-examples"


def documented_example(doc: dict, path: str, operation: dict) -> tuple[str, dict]:
    """The operation's URL with each path parameter's documented example, and its body's example."""
    for parameter in operation.get("parameters", []):
        parameter = deref(doc, parameter)
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", parameter["example"])
    return path, operation["requestBody"]["content"]["application/json"]["example"]


def test_the_documented_examples_are_valid_bodies_that_the_shop_accepts(app, session, api, staff_token):
    app.config.update(SHOP_PAYMENT_SECRET=PAYMENT_SECRET)
    add_place(session, "floor", priority=1)  # the transfer's example moves stock from main to the floor
    doc = document()
    operations = {
        operation["operationId"]: (path, method, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }
    assert set(operations) == {operation_id for operation_id, _ in EXAMPLE_RUN}
    for operation_id, expected in EXAMPLE_RUN:
        path, method, operation = operations[operation_id]
        url, example = documented_example(doc, path, operation)
        schema = {
            **operation["requestBody"]["content"]["application/json"]["schema"],
            "components": doc["components"],
        }
        Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(example)
        body = json.dumps(example).encode()
        t = int(time.time())
        headers = {"Authorization": f"Bearer {staff_token}", "Idempotency-Key": "example"}
        if operation_id == "receivePayment":
            headers = {"Shop-Signature": f"t={t},v1={signature(PAYMENT_SECRET, t, body)}"}
        response = api.request(
            method.upper(), url, data=body, content_type="application/json", headers=headers
        )
        assert response.status_code == expected, (operation_id, response.json)
        if operation_id == "createOrder":  # the order the other examples name, a hold of the same lines
            place_order(
                session,
                [("TEA-SENCHA", 2)],
                status="confirmed",
                customer_name="Ada",
                customer_email="ada@example.com",
                number=ORDER_NUMBER_EXAMPLE,
                hold_until=hold_until(),
            )
            session.commit()


class FakeResponse:
    def __init__(self, status, mimetype, body):
        self.status_code, self.mimetype, self._body = status, mimetype, body

    def get_data(self, as_text=False):
        return json.dumps(self._body)


@pytest.mark.parametrize(
    ("status", "mimetype", "body", "why"),
    [
        (201, "application/json", {"number": "X"}, "body does not match"),
        (201, "text/html", {}, "content type"),
        (500, "application/problem+json", {}, "not documented"),
        (
            409,
            "application/problem+json",
            {
                "type": "about:blank",
                "title": "Conflict",
                "status": 409,
                "detail": "x",
                "code": "c",
                "problems": [{"code": "x"}],
            },
            "body does not match",
        ),
    ],
)
def test_the_conformance_check_catches_what_the_document_does_not_allow(
    bare_app, status, mimetype, body, why
):
    with pytest.raises(AssertionError, match=why):
        assert_conforms(bare_app, "POST", f"{API}/orders", FakeResponse(status, mimetype, body))
