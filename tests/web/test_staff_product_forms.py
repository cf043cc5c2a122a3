"""Staff create products (with their initial stock) and edit them on the dashboard, with the rules
of the CLI import (shop/products.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop import products
from shop.models import Product
from tests.support.factories import STAFF_EMAIL, add_product
from tests.support.readers import counts, ledger, read_rows, stock
from tests.support.web import flashes

NEW = {
    "sku": "TEA-NEW",
    "name": "New tea, 50 g",
    "price": "12.50",
    "initial_stock": "30",
    "low_stock_threshold": "4",
    "max_per_order": "",
    "status": "active",
}


def product_row(session, sku):
    rows = read_rows(
        session,
        select(
            Product.name,
            Product.price_cents,
            Product.low_stock_threshold,
            Product.max_per_order,
            Product.status,
        ).where(Product.sku == sku),
    )
    return tuple(rows[0]) if rows else None


def edit_data(**changes):
    return {
        "name": "Product TEA",
        "price": "10.00",
        "low_stock_threshold": "2",
        "max_per_order": "",
        "status": "active",
        **changes,
    }


def test_the_new_product_form_is_linked_from_the_stock_page(staff_client):
    assert 'href="/staff/new-product"' in staff_client.get("/staff/").text
    html = staff_client.get("/staff/new-product").text
    for label in (
        "SKU",
        "Name",
        "Price (€)",
        "Initial stock",
        "Low-stock threshold",
        "Limit per order",
        "Status",
    ):
        assert re.search(rf'<label for="[a-z_]+">{re.escape(label)}</label>', html), label
    assert 'value="Create product"' in html


def test_staff_create_a_product_with_one_initial_stock_ledger_row(staff_client, session):
    response = staff_client.post("/staff/new-product", data={**NEW, "max_per_order": "6"})
    assert (response.status_code, response.location) == (302, "/staff/products/TEA-NEW")
    assert product_row(session, "TEA-NEW") == ("New tea, 50 g", 1250, 4, 6, "active")
    assert stock(session, "TEA-NEW") == 30
    assert [(r.reason, r.delta, r.quantity_after, r.actor) for r in ledger(session, "TEA-NEW")] == [
        ("initial_stock", 30, 30, f"staff:{STAFF_EMAIL}")
    ]
    assert "TEA-NEW is created with 30 in stock." in flashes(staff_client.get(response.location).text)
    assert "New tea, 50 g" in staff_client.get("/?q=new+tea").text  # on sale and found at once


@pytest.mark.parametrize(
    "price, cents",
    [("12.50", 1250), ("12,5", 1250), ("€7", 700), ("0", 0), (" 0.99 ", 99), ("1000000.00", 100_000_000)],
)
def test_prices_are_typed_in_euros(staff_client, session, price, cents):
    assert staff_client.post("/staff/new-product", data={**NEW, "price": price}).status_code == 302
    assert product_row(session, "TEA-NEW")[1] == cents


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("sku", "", "SKU: Enter a SKU, e.g. TEA-SENCHA."),
        ("sku", "BAD SKU", products.sku_problem("BAD SKU").message),
        ("sku", "-LEADING", products.sku_problem("-LEADING").message),
        ("sku", "X" * 65, products.sku_problem("X" * 65).message),
        ("sku", "TEA", "SKU: There is already a product TEA."),
        ("name", "", "Name: Enter a name."),
        ("name", "x" * 201, products.name_problem("x" * 201).message),
        ("price", "", "Price (€): Enter a price, like 12.50."),
        ("price", "12.505", "Price (€): Enter a price in euros, like 12.50."),
        ("price", "-1", "Price (€): Enter a price in euros, like 12.50."),
        ("price", "abc", "Price (€): Enter a price in euros, like 12.50."),
        ("price", "1000000.01", products.price_problem(100_000_001).message),
        ("initial_stock", "-1", products.stock_problem(-1).message),
        ("initial_stock", "1000001", products.stock_problem(1_000_001).message),
        ("initial_stock", "2.5", "Initial stock: Not a valid integer value."),
        ("initial_stock", "", "Initial stock: Enter a whole number, e.g. 0."),
        ("low_stock_threshold", "-1", products.threshold_problem(-1).message),
        ("low_stock_threshold", "9" * 400, products.threshold_problem(10**400 - 1).message),
        ("max_per_order", "0", products.limit_problem(0).message),
        ("max_per_order", "10001", products.limit_problem(10_001).message),
        ("status", "deleted", "Status: Not a valid choice."),
    ],
)
def test_a_bad_new_product_is_refused_with_the_import_rules_and_nothing_is_written(
    staff_client, session, field, value, message
):
    add_product(session, "TEA", 5)
    before = counts(session)
    session.rollback()
    response = staff_client.post("/staff/new-product", data={**NEW, field: value})
    assert response.status_code == 422
    assert message in flashes(response.text).replace("&#39;", "'")
    assert 'aria-invalid="true"' in response.text
    assert f'value="{NEW["name"]}"' in response.text or field == "name"  # what was typed comes back
    assert counts(session) == before and product_row(session, NEW["sku"]) is None


def test_every_problem_of_a_new_product_is_named_at_once(staff_client, session):
    response = staff_client.post(
        "/staff/new-product",
        data={"sku": "a b", "name": "", "price": "x", "initial_stock": "-1", "low_stock_threshold": "-1"},
    )
    text = flashes(response.text)
    for label in ("SKU:", "Name:", "Price (€):", "Initial stock:", "Low-stock threshold:"):
        assert label in text


def test_the_product_page_has_one_form_for_its_details(staff_client, session):
    product = add_product(session, "TEA", 5)
    product.max_per_order = 3
    session.commit()
    html = staff_client.get("/staff/products/TEA").text
    form = html[html.index('action="/staff/products/TEA/edit"') :]
    form = form[: form.index("</form>")]
    assert 'value="Product TEA"' in form and 'value="10.00"' in form and 'value="3"' in form
    assert '<option selected value="active">Active</option>' in form and 'value="Save product"' in form


def test_staff_edit_name_price_threshold_limit_and_status_but_not_the_stock(staff_client, session):
    add_product(session, "TEA", 5)
    response = staff_client.post(
        "/staff/products/TEA/edit",
        data=edit_data(
            name="Sencha", price="9.90", low_stock_threshold="1", max_per_order="2", status="unavailable"
        ),
    )
    assert (response.status_code, response.location) == (302, "/staff/products/TEA")
    assert product_row(session, "TEA") == ("Sencha", 990, 1, 2, "unavailable")
    assert stock(session, "TEA") == 5 and len(ledger(session, "TEA")) == 1
    assert "TEA is saved." in flashes(staff_client.get(response.location).text)
    assert "Sencha" in staff_client.get("/?q=sencha").text  # the search finds the new name


def test_an_empty_limit_clears_it(staff_client, session):
    product = add_product(session, "TEA", 5)
    product.max_per_order = 3
    session.commit()
    staff_client.post("/staff/products/TEA/edit", data=edit_data(max_per_order=""))
    assert product_row(session, "TEA")[3] is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"name": " "}, products.name_problem(" ").message),
        ({"price": "1,234"}, "Price (€): Enter a price in euros, like 12.50."),
        ({"max_per_order": "-3"}, products.limit_problem(-3).message),
        ({"max_per_order": "abc"}, "Limit per order: Not a valid integer value."),
        ({"max_per_order": "99999999999999999999999999999999999999"}, products.limit_problem(10**38).message),
        ({"low_stock_threshold": ""}, "Low-stock threshold: Enter a whole number, e.g. 5."),
        ({"status": "gone"}, "Status: Not a valid choice."),
    ],
)
def test_a_bad_edit_changes_nothing_and_says_why(staff_client, session, changes, message):
    add_product(session, "TEA", 5)
    response = staff_client.post("/staff/products/TEA/edit", data=edit_data(**changes))
    assert response.status_code == 422
    assert "TEA was not changed:" in flashes(response.text) and message in flashes(response.text)
    assert product_row(session, "TEA") == ("Product TEA", 1000, 2, None, "active")


def test_editing_an_unknown_product_is_404(staff_client, session):
    assert staff_client.post("/staff/products/NOPE/edit", data=edit_data()).status_code == 404
