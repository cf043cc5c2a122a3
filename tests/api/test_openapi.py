"""The OpenAPI document: valid OpenAPI 3.1, served, complete, and what the checks rely on."""

import json

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts, get_spec_version

from shop import create_app
from tests.support.api import API, assert_conforms, document


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
            path = rule.rule.replace("<", "{").replace(">", "}")
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert served == documented


def test_every_operation_documents_its_errors():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if path.endswith("openapi.json"):
                continue
            assert "401" in codes, (method, path)  # a wrong token is 401 everywhere
            if method == "post":
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_the_documented_examples_are_valid_bodies():
    doc = document()
    for item in doc["paths"].values():
        for operation in item.values():
            body = operation.get("requestBody")
            if body:
                media = body["content"]["application/json"]
                schema = {**media["schema"], "components": doc["components"]}
                Draft202012Validator(schema).validate(media["example"])


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
