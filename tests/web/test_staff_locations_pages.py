"""Staff pages with stock in several places: the stock table's location columns, a product's stock per
location, adjustments at a location, transfers, and where each order's lines were taken."""

from __future__ import annotations

import re

import pytest

from shop.models import InventoryMovement
from tests.support.factories import STAFF_EMAIL, add_place, add_product
from tests.support.readers import counts, ledger, row_count, stock
from tests.support.web import checkout, flashes


@pytest.fixture
def places(session):
    """main, a shop floor, and a returns room that does not fulfil orders; TEA spread over them, CUP at main."""
    add_place(session, "floor", priority=1)
    add_place(session, "returns", priority=2, fulfils=False)
    add_product(session, "TEA", at={"main": 2, "floor": 5, "returns": 7}, threshold=3)
    add_product(session, "CUP", at={"main": 4})
    return session


def row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


def cells(html: str, sku: str) -> dict[str, str]:
    """{location code: text} of a product's location cells on the stock table."""
    found = re.findall(r'data-location="([^"]+)">(.*?)</td>', row(html, f'data-sku="{sku}"'))
    return {code: re.sub(r"<[^>]+>", "", text) for code, text in found}


def test_the_stock_table_shows_each_location_and_counts_only_those_that_fulfil_orders(staff_client, places):
    html = staff_client.get("/staff/").text
    assert re.findall(r'<span title="[^"]+">([^<]+)</span>', html) == ["main", "floor", "returns"]
    assert "does not fulfil orders" in html
    tea = row(html, 'data-sku="TEA"')
    assert 'class="on-hand">7<' in tea  # main and floor; the returns room's 7 do not count
    assert cells(html, "TEA") == {"main": "2", "floor": "5", "returns": "7"}
    assert cells(html, "CUP") == {"main": "4", "floor": "–", "returns": "–"}


def test_a_shop_with_one_location_shows_no_location_columns(staff_client, session):
    add_product(session, "TEA", 5)
    html = staff_client.get("/staff/").text
    assert "data-location=" not in html and 'class="on-hand">5<' in html


def test_the_product_page_shows_the_stock_at_each_location_and_each_ledger_rows_place(staff_client, places):
    html = staff_client.get("/staff/products/TEA").text
    assert re.search(r'class="on-hand-figure"><strong>7</strong>', html)
    by_place = {
        code: re.sub(r"<[^>]+>", "", units).strip()
        for code, units in re.findall(
            r'<tr data-location="([^"]+)">.*?<td class="num">(.*?)</td>', html, re.S
        )
    }
    assert by_place == {"main": "2", "floor": "5", "returns": "7"}
    assert re.findall(r'<td class="mono location" data-label="Location">([^<]+)</td>', html) == [
        "returns",
        "floor",
        "main",
    ]  # the three initial_stock rows, newest first
    assert 'name="location"' in html and "Move stock" in html


def test_staff_adjust_the_stock_at_a_location(staff_client, places, session):
    response = staff_client.post(
        "/staff/products/TEA/adjust", data={"delta": "-3", "reason": "adjustment", "location": "returns"}
    )
    assert response.status_code == 302
    assert "TEA: -3 (adjustment), now 4 on hand at returns." in flashes(
        staff_client.get(response.location).text
    )
    assert stock(session, "TEA", "returns") == 4 and stock(session, "TEA", "main") == 2


def test_an_adjustment_at_an_unknown_location_is_refused(staff_client, places, session):
    before = row_count(session, InventoryMovement)
    response = staff_client.post(
        "/staff/products/TEA/adjust", data={"delta": "3", "reason": "restock", "location": "attic"}
    )
    assert response.status_code == 422 and "Location: Not a valid choice." in flashes(response.text)
    assert row_count(session, InventoryMovement) == before


def test_staff_move_stock_between_locations(staff_client, places, session):
    response = staff_client.post(
        "/staff/products/TEA/transfer",
        data={"quantity": "4", "source": "returns", "target": "main", "note": "checked, resellable"},
    )
    assert response.status_code == 302
    page = staff_client.get(response.location).text
    assert "TEA: moved 4 from returns (now 3) to main (now 6)." in flashes(page)
    assert (stock(session, "TEA", "returns"), stock(session, "TEA", "main")) == (3, 6)
    into, out = sorted(ledger(session, "TEA")[-2:])  # written in (product, location) order: main first
    assert (out.reason, out.delta, into.reason, into.delta) == ("transfer_out", -4, "transfer_in", 4)
    assert out.actor == into.actor == f"staff:{STAFF_EMAIL}" and out.note == "checked, resellable"
    assert re.search(r'class="on-hand-figure"><strong>11</strong>', page)  # 6 at main and 5 on the floor


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "6", "source": "main", "target": "floor"}, "TEA: 6 to move, only 2 at main."),
        (
            {"quantity": "1", "source": "main", "target": "main"},
            "a transfer goes from one location to another",
        ),
        ({"quantity": "0", "source": "main", "target": "floor"}, "must be a whole number from 1 to"),
        ({"quantity": "99999999999999999999", "source": "main", "target": "floor"}, "Units to move:"),
        ({"quantity": "1", "source": "attic", "target": "floor"}, "From: Not a valid choice."),
        ({"quantity": "", "source": "main", "target": "floor"}, "Enter how many units to move"),
    ],
)
def test_a_refused_transfer_is_explained_and_moves_nothing(staff_client, places, session, data, message):
    before = counts(session), stock(session, "TEA", "main"), stock(session, "TEA", "floor")
    response = staff_client.post("/staff/products/TEA/transfer", data=data)
    assert response.status_code == 422
    assert message in flashes(response.text)
    assert (counts(session), stock(session, "TEA", "main"), stock(session, "TEA", "floor")) == before


def test_the_order_list_says_where_each_line_was_taken(staff_client, places, client):
    response = checkout(client, {"TEA": 6, "CUP": 1})
    number = response.headers["Location"].rsplit("/", 1)[1]
    html = staff_client.get("/staff/orders").text
    taken = row(html, f'data-order="{number}"')
    # no single place has 6 TEA and a CUP: TEA from main and the floor, CUP from main
    assert "<li>TEA: 2 at main, 4 at floor</li>" in taken and "<li>CUP: 1 at main</li>" in taken
