"""The feed (GET /events) and webhook endpoints through the API; events as the document's `webhooks` say."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from shop.api.auth import issue_token
from shop.outbox import Event, WebhookEndpoint
from tests.support.api import document, order_body
from tests.support.factories import add_product, make_staff
from tests.support.readers import count


def read_feed(api, token, **params) -> list[dict]:
    """Every event, page by page as an integration reads them."""
    events, after = [], None
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, **({"after": after} if after else {})}.items())
        page = api.get(f"/events?{query}", token=token)
        assert page.status_code == 200, page.json
        events += page.json["data"]
        if not page.json["has_more"]:
            return events
        after = events[-1]["id"]


def test_the_feed_pages_through_every_event_in_order(session, api, staff_token, keys):
    add_product(session, "TEA", 10)
    numbers = [api.post("/orders", order_body(("TEA", 1)), key=keys()).json["number"] for _ in range(3)]
    events = read_feed(api, staff_token, limit=2)
    assert [(e["type"], e["data"].get("reason") or e["data"]["order"]["number"]) for e in events] == [
        ("stock.changed", "initial_stock"),
        *[pair for n in numbers for pair in (("order.placed", n), ("stock.changed", "order_placed"))],
    ]
    session.rollback()
    assert [e["id"] for e in events] == list(session.scalars(select(Event.id).order_by(Event.position)))
    placed = read_feed(api, staff_token, type="order.placed")
    assert [e["data"]["order"]["number"] for e in placed] == numbers


def test_every_recorded_event_is_what_the_documents_webhooks_section_says(session, api, staff_token, keys):
    add_product(session, "TEA", 6, threshold=3)
    number = api.post("/orders", order_body(("TEA", 4)), key=keys()).json["number"]  # 6 → 2: low
    api.post("/orders", order_body(("TEA", 2), status="paid"), key=keys(), token=staff_token)  # out
    api.post(f"/orders/{number}/status", {"status": "cancelled"}, token=staff_token)
    doc = document()
    events = read_feed(api, staff_token)
    assert {e["type"] for e in events} == set(doc["webhooks"])
    for event in events:
        schema = doc["webhooks"][event["type"]]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        Draft202012Validator({**schema, "components": doc["components"]}).validate(event)


def test_the_feed_needs_the_read_scope_and_refuses_bad_parameters(session, api):
    user, _ = make_staff(session)
    stock_only = issue_token(session, user, "stock", scopes=["stock:write"])[1]
    session.commit()
    assert api.get("/events").status_code == 401
    refused = api.get("/events", token=stock_only)
    assert (refused.status_code, refused.json["code"]) == (403, "insufficient_scope")
    token = issue_token(session, user, "read", scopes=["read"])[1]
    session.commit()
    for query in ("limit=0", "limit=101", "limit=x", "type=order.shipped", "after=12"):
        bad = api.get(f"/events?{query}", token=token)
        assert (bad.status_code, bad.json["code"]) == (400, "invalid_parameter"), query
    gone = api.get("/events?after=evt_01ARZ3NDEKTSV4RRFFQ69G5FAV", token=token)
    assert (gone.status_code, gone.json["code"]) == (404, "unknown_event")


def test_an_endpoint_is_created_with_its_secret_once_listed_and_deleted(session, api, staff_token):
    created = api.post(
        "/webhook-endpoints",
        {
            "url": "https://93.184.216.34/hooks",
            "event_types": ["order.placed", "stock.low"],
            "description": "ERP",
        },
        token=staff_token,
    )
    assert created.status_code == 201
    endpoint = created.json
    assert endpoint["secret"].startswith("whsec_") and endpoint["event_types"] == [
        "order.placed",
        "stock.low",
    ]
    session.rollback()
    assert session.get(WebhookEndpoint, endpoint["id"]).secret == endpoint["secret"]

    listed = api.get("/webhook-endpoints", token=staff_token).json["data"]
    assert [e["url"] for e in listed] == ["https://93.184.216.34/hooks"] and "secret" not in listed[0]
    assert listed[0]["enabled"] is True and listed[0]["disabled_reason"] is None

    deleted = api.request("DELETE", f"/webhook-endpoints/{endpoint['id']}", token=staff_token)
    assert deleted.status_code == 204 and count(session, WebhookEndpoint) == 0
    again = api.request("DELETE", f"/webhook-endpoints/{endpoint['id']}", token=staff_token)
    assert (again.status_code, again.json["code"]) == (404, "webhook_endpoint_not_found")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest",
        "https://[::1]/hooks",
        "http://93.184.216.34/x",
    ],
)
def test_an_endpoint_the_shop_will_not_call_is_422_with_a_pointer(session, api, staff_token, url):
    refused = api.post("/webhook-endpoints", {"url": url}, token=staff_token)
    assert (refused.status_code, refused.json["code"]) == (422, "invalid_webhook_endpoint")
    assert [(p["code"], p["pointer"]) for p in refused.json["problems"]] == [("invalid_url", "/url")]
    assert count(session, WebhookEndpoint) == 0


def test_endpoints_need_the_webhooks_scope(session, api):
    user, _ = make_staff(session)
    token = issue_token(session, user, "most", scopes=["read", "orders:write", "stock:write"])[1]
    session.commit()
    for method, path, body in (
        ("GET", "/webhook-endpoints", None),
        ("POST", "/webhook-endpoints", {"url": "https://93.184.216.34/hooks"}),
        ("DELETE", "/webhook-endpoints/1", None),
    ):
        refused = api.request(method, path, json_body=body, token=token)
        assert (refused.status_code, refused.json["code"]) == (403, "insufficient_scope"), path
        assert 'scope="webhooks:write"' in refused.headers["WWW-Authenticate"]
    assert json.loads(api.get("/webhook-endpoints", check=False).data)["code"] == "unauthorized"
