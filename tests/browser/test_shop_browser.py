"""The shop in headless Chromium: checkout, refusals, and the staff dashboard at work.

Screenshots of the main pages go to tests/browser/screenshots/ (desktop and phone width).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.models import Order
from shop.orders import place_order
from tests.support.browser import STAFF_EMAIL, log_in, screenshot

ORDER_URL = re.compile(r"/orders/[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
PHONE = {"width": 375, "height": 812}


def place(app, *lines, status="confirmed"):
    """An order placed through the service, as another customer would have."""
    with app.app_context():
        order = commit_unit_of_work(
            lambda: place_order(
                db.session,
                lines,
                status=status,
                customer_name="Grace Hopper",
                customer_email="grace@example.com",
            ),
            actor="customer",
        )
        return order.number


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def assert_fits(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the viewport"


def test_a_placed_order_shows_on_the_staff_dashboard(page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Catalog")).to_be_visible()
    expect(page.locator(".product-card", has_text="Ceremonial matcha").locator(".badge")).to_have_text(
        "Only 2 left"
    )
    expect(page.locator(".product-card", has_text="Gooseneck kettle").locator(".badge")).to_have_text(
        "Temporarily unavailable"
    )
    expect(page.locator(".product-card", has_text="Pocket tea scale")).to_contain_text(
        "Can't be ordered right now"
    )
    expect(page.get_by_label("Quantity of Pocket tea scale")).to_have_count(0)
    screenshot(page, "catalog")

    page.get_by_label("Quantity of Sencha green tea, 100 g").fill("3")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@example.com")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(ORDER_URL)
    number = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("status")).to_contain_text(f"Your order {number} is placed")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tfoot")).to_contain_text("€37.50")
    expect(page.locator(".page-header .status")).to_have_text("confirmed")
    screenshot(page, "order-page")

    log_in(page, live_server)
    row = page.locator("tr[data-sku='TEA-SENCHA']")
    expect(row.locator(".on-hand")).to_have_text("37")
    screenshot(page, "staff-stock")

    row.get_by_role("link", name="TEA-SENCHA").click()
    newest = page.locator("table.ledger tbody tr").first
    expect(newest).to_contain_text("Order placed")
    expect(newest).to_contain_text("customer")
    expect(newest.get_by_role("link", name=number)).to_be_visible()
    expect(newest.locator("td.num")).to_have_text(["-3", "37"])
    expect(page.locator("figure.chart svg[role='img'] polyline.chart-line")).to_be_visible()
    screenshot(page, "staff-product")


def test_an_order_beyond_stock_names_every_problem_and_keeps_the_input(page, live_server, browser_app):
    page.goto(live_server + "/")
    page.get_by_label("Quantity of Ceremonial matcha, 30 g").fill("5")
    page.get_by_label("Quantity of Cast-iron teapot, 0.8 l").fill("9")
    page.get_by_label("Quantity of Assam breakfast tea, 250 g").fill("2")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@example.com")
    page.get_by_role("button", name="Place order").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("We couldn't place your order:")
    expect(alert.locator("li")).to_have_text(
        [
            "POT-CAST: 9 requested, only 4 available.",
            "TEA-MATCHA: 5 requested, only 2 available.",
        ]
    )
    expect(page.get_by_label("Quantity of Ceremonial matcha, 30 g")).to_have_value("5")
    expect(page.get_by_label("Quantity of Cast-iron teapot, 0.8 l")).to_have_value("9")
    expect(page.get_by_label("Quantity of Assam breakfast tea, 250 g")).to_have_value("2")
    expect(page.get_by_label("Your name")).to_have_value("Ada Lovelace")
    expect(page.get_by_label("E-mail address")).to_have_value("ada@example.com")
    expect(page.get_by_label("Quantity of Ceremonial matcha, 30 g")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "order-refused")
    assert count(browser_app, Order) == 0

    page.set_viewport_size(PHONE)
    assert_fits(page)
    screenshot(page, "order-refused-phone")


def test_staff_cancel_an_order_and_its_stock_comes_back(page, live_server, browser_app):
    number = place(browser_app, ("POT-CAST", 3), ("TEA-ASSAM", 5))
    place(browser_app, ("TEA-SENCHA", 1), status="draft")
    log_in(page, live_server, "/staff/orders")
    row = page.locator(f"tr[data-order='{number}']")
    expect(row.locator(".status")).to_have_text("confirmed")
    expect(row.get_by_role("button")).to_have_text([f"Mark paid order {number}", f"Cancel order {number}"])
    screenshot(page, "staff-orders")

    row.get_by_role("button", name=f"Cancel order {number}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Order {number} is now cancelled")
    expect(row.locator(".status")).to_have_text("cancelled")
    expect(row.get_by_role("button")).to_have_count(0)

    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Stock").click()
    expect(page.locator("tr[data-sku='POT-CAST'] .on-hand")).to_have_text("4")
    expect(page.locator("tr[data-sku='TEA-ASSAM'] .on-hand")).to_have_text("25")


def test_staff_adjust_stock(page, live_server):
    log_in(page, live_server, "/staff/products/TEA-MATCHA")
    expect(page.locator(".on-hand-figure")).to_contain_text("2")
    page.get_by_label("Change in stock").fill("10")
    page.get_by_label("Reason").select_option("restock")
    page.get_by_label("Note").fill("Delivery note 4711")
    page.get_by_role("button", name="Apply change").click()

    expect(page.get_by_role("status")).to_contain_text("TEA-MATCHA: +10 (restock), now 12 on hand.")
    expect(page.locator(".on-hand-figure")).to_contain_text("12")
    newest = page.locator("table.ledger tbody tr").first
    expect(newest).to_contain_text("Restock")
    expect(newest).to_contain_text("Delivery note 4711")
    expect(newest).to_contain_text(f"staff:{STAFF_EMAIL}")
    expect(newest.locator("td.num")).to_have_text(["+10", "12"])

    page.get_by_label("Change in stock").fill("-50")
    page.get_by_label("Reason").select_option("adjustment")
    page.get_by_role("button", name="Apply change").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot remove 50, only 12 on hand")
    expect(page.get_by_label("Change in stock")).to_have_value("-50")
    screenshot(page, "staff-adjust-refused")


def test_login_page_refuses_a_wrong_password(page, live_server):
    page.goto(live_server + "/staff/orders")
    expect(page).to_have_url(f"{live_server}/staff/login?next=%2Fstaff%2Forders")
    expect(page.get_by_role("status")).to_contain_text("Please log in")
    page.get_by_label("E-mail address").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match a staff account")
    screenshot(page, "login")


@pytest.mark.parametrize(
    "path",
    ["/", "/orders/{number}", "/staff/", "/staff/products/TEA-MATCHA", "/staff/orders", "/staff/login"],
)
def test_main_pages_fit_a_phone(page, live_server, browser_app, path):
    number = place(browser_app, ("TEA-MATCHA", 1), ("CUP-STONE", 2))
    page.set_viewport_size(PHONE)
    if path.startswith("/staff/") and path != "/staff/login":
        log_in(page, live_server, path)
    else:
        page.goto(live_server + path.format(number=number))
    assert_fits(page)
    name = {
        "/": "catalog",
        "/orders/{number}": "order-page",
        "/staff/": "staff-stock",
        "/staff/products/TEA-MATCHA": "staff-product",
        "/staff/orders": "staff-orders",
        "/staff/login": "login",
    }[path]
    screenshot(page, f"{name}-phone")
