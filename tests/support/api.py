"""The JSON API through Flask's test client. Every response the ``api`` client receives is checked
against the OpenAPI document: its status must be documented for the operation, its content type
listed, and its body valid against the documented schema (formats included).

Fixtures: ``api`` (an ``ApiClient`` of the ``app``), ``staff_token`` (a live bearer token of a staff
user) and ``keys`` (fresh idempotency keys).
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException

from shop.api.contract import API_PREFIX
from shop.api.openapi import build_document
from tests.support.factories import make_staff

API = API_PREFIX


@cache
def document() -> dict:
    return build_document()


def deref(doc: dict, node: dict) -> dict:
    """Follow a local ``$ref`` (``#/components/...``) to its target."""
    while "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operation_of(app, method: str, path: str) -> tuple[str, dict] | None:
    """The documented (path template, operation) answering ``method path``, or None if no route does."""
    adapter = app.url_map.bind("localhost")
    try:
        rule, _ = adapter.match(path.split("?", 1)[0], method=method, return_rule=True)
    except HTTPException:
        return None
    template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    operation = document()["paths"].get(template, {}).get(method.lower())
    assert operation is not None, f"{method} {template} is served but not in the OpenAPI document"
    return template, operation


def assert_conforms(app, method: str, path: str, response) -> None:
    """Fail unless ``response`` is what the OpenAPI document says ``method path`` may answer."""
    doc = document()
    found = operation_of(app, method, path)
    if found is None:  # no route: the API still answers a problem (404 or 405)
        assert response.status_code in (404, 405), response.status_code
        entry = {
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
        }
        where = f"{method} {path} (no route)"
    else:
        template, operation = found
        where = f"{method} {template} → {response.status_code}"
        responses = operation["responses"]
        assert str(response.status_code) in responses, f"{where} is not documented"
        entry = deref(doc, responses[str(response.status_code)])
    content = entry.get("content", {})
    if not content:  # documented without a body (204)
        assert not response.get_data(), f"{where}: a body where the document has none"
        return
    assert response.mimetype in content, f"{where}: content type {response.mimetype} not in {list(content)}"
    schema = {**content[response.mimetype]["schema"], "components": doc["components"]}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(json.loads(response.get_data(as_text=True))), key=str)
    assert not errors, f"{where}: body does not match the document: {errors[0].message}"


class ApiClient:
    """The Flask test client, with JSON helpers and a conformance check of every response."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        data=None,
        headers=None,
        token=None,
        key=None,
        content_type=None,
        check=True,
        address=None,
    ):
        """``address``: the client's address (the test client's own, 127.0.0.1, unless given)."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        kwargs = {}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            kwargs["content_type"] = content_type or "application/json"
        elif data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = content_type
        url = path if path.startswith(API) else API + path
        if address is not None:
            kwargs["environ_base"] = {"REMOTE_ADDR": address}
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        if check:
            assert_conforms(self.app, method, url, response)
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json_body=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json_body=json, **kwargs)


def order_body(*lines, status="confirmed", name="Ada Lovelace", email="ada@example.com") -> dict:
    return {
        "status": status,
        "customer": {"name": name, "email": email},
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }


@pytest.fixture
def api(app):
    return ApiClient(app)


@pytest.fixture
def staff_token(session):
    return make_staff(session)[1]


@pytest.fixture
def keys():
    """Fresh idempotency keys: key-1, key-2, …"""
    counter = iter(range(1, 1_000_000))
    return lambda: f"key-{next(counter)}"
