"""Logs: one line per request and per stock change, as JSON with SHOP_LOG_FORMAT=json, each carrying the request id."""

from __future__ import annotations

import json
import re

import pytest

from shop.extensions import db
from tests.support.databases import make_app
from tests.support.factories import add_product
from tests.support.web import checkout

GENERATED = re.compile(r"[0-9a-f]{32}")


def json_lines(captured: str) -> list[dict]:
    """Every line the shop wrote, parsed: each must be one JSON object."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


@pytest.fixture(params=[0, 1], ids=["direct", "behind-a-proxy"])
def json_app(request, database_urls):
    yield from make_app(
        database_urls("sqlite"),
        SHOP_LOG_FORMAT="json",
        SHOP_LOG_LEVEL="INFO",
        SHOP_TRUSTED_PROXIES=request.param,
        WTF_CSRF_ENABLED=False,
    )


def test_each_request_is_one_json_line_with_its_id_sent_back(json_app, capsys):
    capsys.readouterr()
    answer = json_app.test_client().get("/?q=tea")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == f"GET / 200 {line['duration_ms']:.1f} ms"
    assert (line["level"], line["logger"], line["method"], line["path"], line["status"]) == (
        "INFO",
        "shop.requests",
        "GET",
        "/",
        200,
    )
    assert line["duration_ms"] > 0 and line["time"].endswith("+00:00")
    assert GENERATED.fullmatch(line["request_id"])
    assert answer.headers["X-Request-ID"] == line["request_id"]


def test_an_incoming_request_id_is_kept_only_behind_a_trusted_proxy(json_app, capsys):
    client = json_app.test_client()
    trusted = json_app.config["SHOP_TRUSTED_PROXIES"] > 0
    capsys.readouterr()
    answer = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    if trusted:
        assert answer.headers["X-Request-ID"] == "lb-7f3a.42"
    else:
        assert GENERATED.fullmatch(answer.headers["X-Request-ID"]), "anyone could write it: a new one is made"
    for forged in ("two words", "x" * 129, "a\u00e9"):
        assert GENERATED.fullmatch(
            client.get("/healthz", headers={"X-Request-ID": forged}).headers["X-Request-ID"]
        )
    assert json_lines(capsys.readouterr().err) == [], "probes are logged at debug level only"


def test_a_stock_change_is_a_json_line_of_its_own_with_the_request_id(json_app, capsys):
    with json_app.app_context():
        add_product(db.session, "TEA", 10)
        db.session.remove()
    client = json_app.test_client()
    capsys.readouterr()
    placed = checkout(client, {"TEA": 3})
    assert placed.status_code == 302
    lines = json_lines(capsys.readouterr().err)
    (change,) = [line for line in lines if line["logger"] == "shop.inventory"]
    (post,) = [line for line in lines if line["logger"] == "shop.requests" and line["method"] == "POST"]
    number = placed.headers["Location"].rsplit("/", 1)[-1]
    assert {k: change[k] for k in ("sku", "delta", "quantity_after", "reason", "order", "actor")} == {
        "sku": "TEA",
        "delta": -3,
        "quantity_after": 7,
        "reason": "order_placed",
        "order": number,
        "actor": "customer",
    }
    assert change["request_id"] == post["request_id"] == placed.headers["X-Request-ID"]


@pytest.fixture
def text_app(database_urls):
    yield from make_app(database_urls("sqlite"), SHOP_LOG_FORMAT="text", SHOP_LOG_LEVEL="INFO")


def test_text_lines_carry_the_request_id_too(text_app, capsys):
    capsys.readouterr()
    answer = text_app.test_client().get("/")
    (line,) = capsys.readouterr().err.splitlines()
    assert f"INFO shop.requests [{answer.headers['X-Request-ID']}] GET / 200 " in line
