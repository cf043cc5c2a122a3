"""Staff: the ledger as CSV, filtered by product and date range, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import update

from shop.models import InventoryMovement
from tests.support.factories import add_product, make_staff


@pytest.fixture
def ledger_rows(session, staff_client):
    """TEA: initial 10 on 2025-01-10, restock +5 on 2025-01-20; CUP: initial 3 on 2025-01-15."""
    tea = add_product(session, "TEA", 10)
    cup = add_product(session, "CUP", 3)
    tea_id, cup_id = tea.id, cup.id
    session.rollback()  # reading the ids began a transaction: end it before the client writes
    staff_client.post("/staff/products/TEA/adjust", data={"delta": "5", "reason": "restock", "note": "box 7"})
    for product_id, reason, day in (
        (tea_id, "initial_stock", 10),
        (cup_id, "initial_stock", 15),
        (tea_id, "restock", 20),
    ):
        session.execute(
            update(InventoryMovement)
            .where(InventoryMovement.product_id == product_id, InventoryMovement.reason == reason)
            .values(created_at=datetime(2025, 1, day, 12, 30))
        )
    session.commit()
    return staff_client


def export(client, **params):
    response = client.get("/staff/movements.csv", query_string=params)
    assert response.status_code == 200, response.text
    assert response.is_streamed  # rows are written as they are read, not built in memory first
    return response, list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_export_is_a_streamed_csv_of_the_whole_ledger(ledger_rows):
    response, rows = export(ledger_rows)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="movements.csv"'
    assert rows == [
        [
            "created_at",
            "sku",
            "delta",
            "quantity_after",
            "reason",
            "actor",
            "order_number",
            "note",
            "location",
        ],
        ["2025-01-10 12:30:00", "TEA", "10", "10", "initial_stock", "test", "", "", "main"],
        ["2025-01-15 12:30:00", "CUP", "3", "3", "initial_stock", "test", "", "", "main"],
        ["2025-01-20 12:30:00", "TEA", "5", "15", "restock", "staff:staff@example.com", "", "box 7", "main"],
    ]


def test_the_export_filters_by_product(ledger_rows):
    response, rows = export(ledger_rows, sku="TEA")
    assert [r[1] for r in rows[1:]] == ["TEA", "TEA"]
    assert response.headers["Content-Disposition"] == 'attachment; filename="movements-TEA.csv"'


@pytest.mark.parametrize(
    "params, days",
    [
        ({"from": "2025-01-15"}, ["15", "20"]),
        ({"to": "2025-01-15"}, ["10", "15"]),
        ({"from": "2025-01-15", "to": "2025-01-15"}, ["15"]),
        ({"from": "2025-01-11", "to": "2025-01-14"}, []),
        ({"from": "2025-01-01", "to": "2025-01-31", "sku": "TEA"}, ["10", "20"]),
        ({"from": "", "to": ""}, ["10", "15", "20"]),
    ],
)
def test_the_export_filters_by_date_range_both_days_included(ledger_rows, params, days):
    _, rows = export(ledger_rows, **params)
    assert [r[0][8:10] for r in rows[1:]] == days


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "yesterday"}, "&#39;from&#39; must be a date like 2025-01-31, not &#39;yesterday&#39;."),
        ({"to": "2025-02-30"}, "&#39;to&#39; must be a date like 2025-01-31"),
        ({"from": "2025-02-01", "to": "2025-01-01"}, "&#39;from&#39; must not be after &#39;to&#39;."),
    ],
)
def test_bad_dates_are_a_400_with_a_clear_message(ledger_rows, params, message):
    response = ledger_rows.get("/staff/movements.csv", query_string=params)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert message in response.text


def test_an_unknown_product_is_404(ledger_rows):
    response = ledger_rows.get("/staff/movements.csv?sku=NOPE")
    assert response.status_code == 404
    assert "There is no product with SKU NOPE." in response.text


@pytest.mark.parametrize(
    "note, cell",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("count 2025-01", "count 2025-01"),
    ],
)
def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(ledger_rows, note, cell):
    ledger_rows.post("/staff/products/CUP/adjust", data={"delta": "-1", "reason": "adjustment", "note": note})
    _, rows = export(ledger_rows, sku="CUP")
    assert rows[-1][7] == cell
    assert rows[-1][2] == "-1"  # numbers stay numbers


@pytest.mark.parametrize(
    "note",
    ["  =1+2", '\n=HYPERLINK("http://evil.example","x")', " \r\n-2+3", "\t@SUM(A1)", "\n\n+1"],
)
def test_a_formula_after_spaces_or_line_breaks_is_defused_too(ledger_rows, session, api, note):
    """A spreadsheet skips leading spaces and line breaks and runs what follows (the API keeps them in a note)."""
    _, token = make_staff(session, "api@example.com")
    session.rollback()
    adjustment = {"delta": -1, "reason": "adjustment", "note": note}
    assert api.post("/products/CUP/adjustments", adjustment, token=token).status_code == 201
    _, rows = export(ledger_rows, sku="CUP")
    assert rows[-1][7] == "'" + note


def test_a_note_with_a_dash_inside_is_left_alone(ledger_rows, session, api):
    _, token = make_staff(session, "api@example.com")
    session.rollback()
    adjustment = {"delta": -1, "reason": "adjustment", "note": "box 7 - damaged"}
    assert api.post("/products/CUP/adjustments", adjustment, token=token).status_code == 201
    assert export(ledger_rows, sku="CUP")[1][-1][7] == "box 7 - damaged"


def test_a_sku_cannot_inject_a_formula_either(ledger_rows, session):
    add_product(session, "=CMD", 1)
    response, rows = export(ledger_rows, sku="=CMD")
    assert rows[1][1] == "'=CMD"
    assert response.headers["Content-Disposition"] == 'attachment; filename="movements-_CMD.csv"'


def test_a_long_ledger_is_exported_in_pages_without_losing_a_row(ledger_rows, monkeypatch):
    from shop.web.staff import views

    for delta in range(1, 6):
        ledger_rows.post("/staff/products/CUP/adjust", data={"delta": str(delta), "reason": "restock"})
    monkeypatch.setattr(views, "CSV_BATCH", 2)
    _, rows = export(ledger_rows)
    assert len(rows) == 1 + 3 + 5
    assert [r[2] for r in rows[-5:]] == ["1", "2", "3", "4", "5"]
