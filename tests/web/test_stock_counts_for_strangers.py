"""Exact stock to strangers (README, Security): a count only at or below the product's low-stock threshold.

A stranger asks for more than there is, to learn how many are left: in the cart, at checkout and
through the anonymous API. Above the threshold they hear "not enough in stock"; at it, the count
(as the catalog's "Only 4 left" badge says anyway). Staff tokens see every count. All three databases.
"""

from __future__ import annotations

import re

import pytest

from tests.support.api import order_body
from tests.support.factories import add_product, make_staff
from tests.support.web import checkout, fill_cart, flashes


@pytest.fixture
def stocked(session):
    add_product(session, "PLENTY", 50, threshold=5)  # above its threshold
    add_product(session, "FEW", 4, threshold=4)  # at it


def line_problems(html: str, sku: str) -> list[str]:
    row = re.search(rf'<tr class="cart-line[^"]*" data-sku="{sku}">(.*?)</tr>', html, re.S).group(1)
    return re.findall(r'<p class="line-problem"[^>]*>([^<]+)</p>', row)


def test_the_cart_does_not_tell_a_stranger_how_many_are_left_above_the_threshold(client, stocked):
    fill_cart(client, {"PLENTY": 9999, "FEW": 9999})
    html = client.get("/cart").text
    assert line_problems(html, "PLENTY") == ["Not enough in stock right now."]
    assert line_problems(html, "FEW") == ["Only 4 left right now."]


def test_a_refused_checkout_tells_a_count_only_at_the_threshold(client, stocked):
    response = checkout(client, {"PLENTY": 60, "FEW": 5})
    assert response.status_code == 422
    said = flashes(response.text)
    assert "PLENTY: 60 requested, not enough in stock." in said and "50" not in said
    assert "FEW: 5 requested, only 4 available." in said


def test_an_anonymous_api_refusal_omits_available_above_the_threshold(client, api, stocked):
    response = api.post("/orders", order_body(("PLENTY", 60), ("FEW", 5)), key="probe")
    assert response.status_code == 409
    problems = {p["sku"]: p for p in response.json["problems"]}
    assert problems["PLENTY"]["available"] is None
    assert problems["PLENTY"]["message"] == "PLENTY: 60 requested, not enough in stock."
    assert problems["FEW"]["available"] == 4
    assert "50" not in response.get_data(as_text=True)


def test_staff_see_every_count(session, client, api, stocked):
    _, token = make_staff(session)
    session.rollback()
    response = api.post("/orders", order_body(("PLENTY", 60), ("FEW", 5)), key="staff", token=token)
    problems = {p["sku"]: p["available"] for p in response.json["problems"]}
    assert problems == {"PLENTY": 50, "FEW": 4}
    assert "PLENTY: 60 requested, only 50 available." in response.json["detail"]
