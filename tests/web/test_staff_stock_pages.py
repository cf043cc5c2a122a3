"""Staff: the stock table, a product's page (ledger, chart), stock adjustments and product status."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop.models import InventoryMovement, Product
from tests.support.factories import STAFF_EMAIL, add_product
from tests.support.readers import ledger, read, row_count, stock
from tests.support.web import checkout, edit_product, flashes


@pytest.fixture
def products(session):
    add_product(session, "TEA-GREEN", 10, threshold=3)
    add_product(session, "TEA-BLACK", 3, threshold=3)
    add_product(session, "CUP", 0, status="discontinued")
    add_product(session, "GIFT", None)
    return session


def rows(html: str) -> list[str]:
    """SKUs of the stock table's rows, in order."""
    return re.findall(r'<tr(?: class="is-low-stock")? data-sku="([^"]+)"', html)


def row(html: str, sku: str) -> str:
    start = html.index(f'data-sku="{sku}"')
    return html[start : html.index("</tr>", start)]


def test_the_stock_table_shows_sku_name_status_on_hand_and_low_stock(staff_client, products):
    html = staff_client.get("/staff/").text
    assert rows(html) == ["CUP", "GIFT", "TEA-BLACK", "TEA-GREEN"]
    assert "4 products" in html
    green, black = row(html, "TEA-GREEN"), row(html, "TEA-BLACK")
    assert "Product TEA-GREEN" in green and 'class="on-hand">10<' in green and "low-stock-flag" not in green
    assert 'class="on-hand">3<' in black and '<span class="low-stock-flag">Low stock</span>' in black
    assert '<tr class="is-low-stock" data-sku="TEA-BLACK">' in html
    assert "Discontinued" in row(html, "CUP") and "Low stock" in row(html, "CUP")
    assert "not stocked" in row(html, "GIFT") and "Low stock" not in row(html, "GIFT")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("tea", ["TEA-BLACK", "TEA-GREEN"]),
        ("GREEN", ["TEA-GREEN"]),
        ("product cup", ["CUP"]),
        ("%", []),
        ("nothing", []),
    ],
)
def test_the_stock_table_searches_sku_and_name(staff_client, products, query, expected):
    html = staff_client.get("/staff/", query_string={"q": query}).text
    assert rows(html) == expected
    if not expected:
        assert "No product matches." in html


def test_the_stock_table_filters_low_stock(staff_client, products):
    assert rows(staff_client.get("/staff/?low=1").text) == ["CUP", "TEA-BLACK"]


@pytest.mark.parametrize(
    "sort, direction, expected",
    [
        ("on_hand", "desc", ["TEA-GREEN", "TEA-BLACK", "CUP", "GIFT"]),
        ("on_hand", "asc", ["GIFT", "CUP", "TEA-BLACK", "TEA-GREEN"]),
        ("sku", "desc", ["TEA-GREEN", "TEA-BLACK", "GIFT", "CUP"]),
        ("status", "asc", ["GIFT", "TEA-BLACK", "TEA-GREEN", "CUP"]),
        ("bogus", "sideways", ["CUP", "GIFT", "TEA-BLACK", "TEA-GREEN"]),
    ],
)
def test_the_stock_table_sorts(staff_client, products, sort, direction, expected):
    html = staff_client.get("/staff/", query_string={"sort": sort, "dir": direction}).text
    assert rows(html) == expected


def test_the_sorted_column_is_announced(staff_client, products):
    html = staff_client.get("/staff/?sort=on_hand&dir=desc").text
    assert re.search(
        r'<th scope="col" class="num" aria-sort="descending">\s*<a[^>]*href="/staff/\?sort=on_hand&amp;dir=asc"',
        html,
    )


def test_the_stock_table_is_paginated(app, staff_client, products):
    app.config["SHOP_PAGE_SIZE"] = 3
    first = staff_client.get("/staff/").text
    second = staff_client.get("/staff/?page=2").text
    assert rows(first) == ["CUP", "GIFT", "TEA-BLACK"]
    assert rows(second) == ["TEA-GREEN"]
    assert 'href="/staff/?page=2" rel="next"' in first
    assert 'aria-current="page"><span class="visually-hidden">Page </span>2<' in second
    assert rows(staff_client.get("/staff/?page=99").text) == []
    assert rows(staff_client.get("/staff/?page=abc").text) == ["CUP", "GIFT", "TEA-BLACK"]


def test_the_product_page_shows_its_ledger_newest_first_with_order_links(
    client, staff_client, products, session
):
    order_page = checkout(client, {"TEA-GREEN": 4}).location
    number = order_page.rsplit("/", 1)[1]
    html = staff_client.get("/staff/products/TEA-GREEN").text
    table = html[html.index('<table class="ledger') : html.index("</table>")]
    body_rows = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") :], re.S)
    assert len(body_rows) == 2
    newest, oldest = body_rows
    assert "Order placed" in newest and ">customer<" in newest and f'href="/orders/{number}"' in newest
    assert re.search(r">-4</td>\s*<td class=\"num\" data-label=\"After\">6</td>", newest)
    assert (
        "Initial stock" in oldest
        and ">test<" in oldest
        and re.search(r">\+10</td>\s*<td class=\"num\" data-label=\"After\">10</td>", oldest)
    )


def test_the_product_ledger_is_paginated(app, staff_client, products):
    app.config["SHOP_PAGE_SIZE"] = 2
    for delta in (1, 2, 3):
        staff_client.post("/staff/products/TEA-GREEN/adjust", data={"delta": delta, "reason": "restock"})
    first = staff_client.get("/staff/products/TEA-GREEN").text
    last = staff_client.get("/staff/products/TEA-GREEN?page=2").text
    assert re.findall(r">(\+\d+)</td>", first) == ["+3", "+2"]
    assert re.findall(r">(\+\d+)</td>", last) == ["+1", "+10"]
    assert "4 rows" in first


def test_the_product_page_draws_a_stock_chart_on_the_server(staff_client, products):
    staff_client.post("/staff/products/TEA-GREEN/adjust", data={"delta": "-4", "reason": "adjustment"})
    html = staff_client.get("/staff/products/TEA-GREEN").text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Stock of TEA-GREEN over time</title>' in svg
    assert "Stock went from 10 to 6; lowest 6, highest 10. Low-stock threshold: 3." in svg
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', svg).group(1).split()
    # start at 10 (the top of a 0..10 scale), across to the change, down to 6, on to now
    assert [p.split(",")[1] for p in points] == ["16", "16", "99.2", "99.2"]
    assert points[-1].split(",")[0] == "700"
    assert '<line class="chart-threshold"' in svg
    assert "<script" not in html


def test_a_product_without_movements_has_no_chart(staff_client, products):
    html = staff_client.get("/staff/products/GIFT").text
    assert "<svg" not in html and "No stock movements yet." in html


def test_an_unknown_product_page_is_404(staff_client, products):
    response = staff_client.get("/staff/products/NOPE")
    assert response.status_code == 404
    assert "There is no product with SKU NOPE." in response.text


def test_staff_restock_a_product(staff_client, products, session):
    response = staff_client.post(
        "/staff/products/TEA-BLACK/adjust",
        data={"delta": "12", "reason": "restock", "note": "  delivery 4711 "},
    )
    assert (response.status_code, response.location) == (302, "/staff/products/TEA-BLACK")
    assert stock(session, "TEA-BLACK") == 15
    last = ledger(session, "TEA-BLACK")[-1]
    assert (last.reason, last.delta, last.quantity_after, last.actor, last.note) == (
        "restock",
        12,
        15,
        f"staff:{STAFF_EMAIL}",
        "delivery 4711",
    )
    page = staff_client.get(response.location)
    assert "TEA-BLACK: +12 (restock), now 15 on hand at main." in flashes(page.text)


def test_staff_adjust_stock_down(staff_client, products, session):
    staff_client.post("/staff/products/TEA-GREEN/adjust", data={"delta": "-2", "reason": "adjustment"})
    assert stock(session, "TEA-GREEN") == 8
    assert ledger(session, "TEA-GREEN")[-1].note is None


def test_a_first_adjustment_stocks_a_product_that_had_no_inventory(staff_client, products, session):
    staff_client.post("/staff/products/GIFT/adjust", data={"delta": "5", "reason": "restock"})
    assert stock(session, "GIFT") == 5


@pytest.mark.parametrize(
    "data, status, message",
    [
        (
            {"delta": "-11", "reason": "adjustment"},
            422,
            "TEA-GREEN: cannot remove 11, only 10 on hand at main.",
        ),
        ({"delta": "-1", "reason": "restock"}, 422, "a restock adds stock; use an adjustment to remove it."),
        ({"delta": "0", "reason": "adjustment"}, 422, "the change must be a non-zero whole number"),
        ({"delta": "abc", "reason": "adjustment"}, 422, "Change in stock: Not a valid integer value."),
        ({"delta": "", "reason": "adjustment"}, 422, "Change in stock: Enter the change, e.g. 12 or -3."),
        ({"delta": "5", "reason": "order_placed"}, 422, "Reason: Not a valid choice."),
        ({"delta": "5", "reason": "restock", "note": "x" * 501}, 422, "Note: At most 500 characters."),
    ],
)
def test_a_refused_adjustment_is_explained_and_changes_nothing(
    staff_client, products, session, data, status, message
):
    before = row_count(session, InventoryMovement)
    response = staff_client.post("/staff/products/TEA-GREEN/adjust", data=data)
    assert response.status_code == status
    assert message in flashes(response.text)
    assert f'value="{data["delta"]}"' in response.text  # the form comes back as typed
    assert stock(session, "TEA-GREEN") == 10
    assert row_count(session, InventoryMovement) == before


def test_adjusting_an_unknown_product_is_404(staff_client, products):
    assert (
        staff_client.post("/staff/products/NOPE/adjust", data={"delta": "1", "reason": "restock"}).status_code
        == 404
    )


@pytest.mark.parametrize("status", ["unavailable", "discontinued", "active"])
def test_staff_set_a_products_status(staff_client, products, session, status):
    response = edit_product(staff_client, "TEA-GREEN", status=status)
    assert response.location == "/staff/products/TEA-GREEN"
    assert read(session, select(Product.status).where(Product.sku == "TEA-GREEN")) == status
    assert "TEA-GREEN is saved." in flashes(staff_client.get(response.location).text)


def test_an_unavailable_product_can_no_longer_be_ordered(client, staff_client, products, session):
    edit_product(staff_client, "TEA-GREEN", status="unavailable")
    html = client.get("/").text
    assert "Temporarily unavailable" in html and 'name="sku" value="TEA-GREEN"' not in html  # no Add to cart
    response = checkout(client, {"TEA-GREEN": 1})
    assert "TEA-GREEN is temporarily unavailable." in flashes(response.text)


def test_an_unknown_product_status_is_refused(staff_client, products, session):
    response = edit_product(staff_client, "TEA-GREEN", status="deleted")
    assert response.status_code == 422
    assert "TEA-GREEN was not changed: Status: Not a valid choice." in flashes(response.text)
    assert read(session, select(Product.status).where(Product.sku == "TEA-GREEN")) == "active"
