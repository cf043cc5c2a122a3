"""The shop in headless Chromium: the customer's journey (search, product, cart, checkout, order),
refusals, and the staff dashboard at work.

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


def card(page, name):
    return page.locator(".product-card", has_text=name)


def cart_badge(page):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Cart"))


def add(page, name, quantity):
    """Fill in a product's quantity and press its Add to cart (on the catalog or its page)."""
    page.get_by_label(f"Quantity of {name}").fill(str(quantity))
    page.get_by_role("button", name=f"Add to cart {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added {quantity} × {name} to your cart.")


def test_the_whole_journey_from_search_to_the_order_and_the_staff_dashboard(page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Catalog", exact=True)).to_be_visible()
    expect(card(page, "Ceremonial matcha").locator(".badge")).to_have_text("Only 2 left")
    expect(card(page, "Gooseneck kettle").locator(".badge")).to_have_text("Temporarily unavailable")
    expect(card(page, "Pocket tea scale")).to_contain_text("Can't be ordered right now")
    expect(page.get_by_label("Quantity of Pocket tea scale")).to_have_count(0)
    expect(cart_badge(page)).to_have_accessible_name("Cart 0 items")
    screenshot(page, "catalog")

    # Search, open a product, add it.
    page.get_by_label("Search products").fill("sencha")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".product-card")).to_have_count(1)
    expect(page.get_by_text("1 product matches “sencha”.")).to_be_visible()
    screenshot(page, "catalog-search")
    page.get_by_role("link", name="Sencha green tea, 100 g").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sencha green tea, 100 g")
    screenshot(page, "product")
    add(page, "Sencha green tea, 100 g", 2)

    # Two more products from the catalog, then the cart.
    page.get_by_role("link", name="Back to the catalog").click()
    add(page, "Stoneware cup, 200 ml", 1)
    add(page, "Cast-iron teapot, 0.8 l", 1)
    expect(cart_badge(page)).to_have_accessible_name("Cart 4 items")
    cart_badge(page).click()
    expect(page.locator("tr.cart-line")).to_have_count(3)

    # Change a quantity, remove a line.
    page.get_by_label("Quantity of Sencha green tea, 100 g").fill("3")
    page.get_by_role("button", name="Update cart").click()
    expect(page.get_by_role("status")).to_contain_text("Your cart is updated.")
    page.get_by_role("button", name="Remove Cast-iron teapot, 0.8 l").click()
    expect(page.get_by_role("status")).to_contain_text("Removed Cast-iron teapot, 0.8 l from your cart.")
    expect(page.locator("tr.cart-line")).to_have_count(2)
    expect(page.locator(".cart-subtotal")).to_have_text("€55.50")
    expect(cart_badge(page)).to_have_accessible_name("Cart 4 items")
    screenshot(page, "cart")

    # Check out.
    page.get_by_role("button", name="Checkout").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.locator(".checkout-total")).to_have_text("€55.50")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@example.com")
    screenshot(page, "checkout")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(ORDER_URL)
    number = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("status")).to_contain_text(f"Your order {number} is placed")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tfoot")).to_contain_text("€55.50")
    expect(page.locator(".page-header .status")).to_have_text("confirmed")
    expect(page.locator(".hold-note")).to_contain_text("Held for you until")
    expect(page.get_by_role("button", name="Pay now (demo)")).to_be_visible()
    expect(cart_badge(page)).to_have_accessible_name("Cart 0 items")
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
    # taken in the warehouse (main: 30 of the 40), so 27 are left there
    expect(newest.locator("td.location")).to_have_text("main")
    expect(newest.locator("td.num")).to_have_text(["-3", "27"])
    expect(page.locator("figure.chart svg[role='img'] polyline.chart-line")).to_be_visible()
    screenshot(page, "staff-product")


def test_stock_taken_between_cart_and_checkout_is_named_on_its_line_and_the_cart_is_kept(
    page, live_server, browser_app
):
    page.goto(live_server + "/products/TEA-MATCHA")
    add(page, "Ceremonial matcha, 30 g", 2)
    page.goto(live_server + "/products/POT-CAST")
    add(page, "Cast-iron teapot, 0.8 l", 3)
    page.goto(live_server + "/products/TEA-ASSAM")
    add(page, "Assam breakfast tea, 250 g", 2)
    page.goto(live_server + "/checkout")
    expect(page.locator(".line-problem")).to_have_count(0)  # everything could be served a moment ago
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@example.com")

    place(browser_app, ("TEA-MATCHA", 1), ("POT-CAST", 2))  # another buyer is quicker
    page.get_by_role("button", name="Place order").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("We couldn't place your order:")  # every problem, in the cart's order
    expect(alert.locator("li")).to_have_text(
        ["TEA-MATCHA: 2 requested, only 1 available.", "POT-CAST: 3 requested, only 2 available."]
    )
    expect(page.locator("tr[data-sku='TEA-MATCHA'] .line-problem")).to_have_text("Only 1 left right now.")
    expect(page.locator("tr[data-sku='POT-CAST'] .line-problem")).to_have_text("Only 2 left right now.")
    expect(page.locator("tr[data-sku='TEA-ASSAM'] .line-problem")).to_have_count(0)
    expect(page.get_by_label("Your name")).to_have_value("Ada Lovelace")
    expect(page.get_by_label("E-mail address")).to_have_value("ada@example.com")
    expect(cart_badge(page)).to_have_accessible_name("Cart 7 items")  # the cart is kept
    screenshot(page, "checkout-refused")
    assert count(browser_app, Order) == 1  # only the other buyer's

    page.set_viewport_size(PHONE)
    assert_fits(page)
    screenshot(page, "checkout-refused-phone")

    cart_badge(page).click()  # the cart says the same until it is changed
    expect(page.locator("tr[data-sku='TEA-MATCHA'] .line-problem")).to_have_text("Only 1 left right now.")


def test_a_product_page_for_an_unknown_sku_is_the_404_page(page, live_server):
    response = page.goto(live_server + "/products/NO-SUCH-TEA")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Back to the catalog").click()
    expect(page.get_by_role("heading", name="Catalog", exact=True)).to_be_visible()


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

    expect(page.get_by_role("status")).to_contain_text("TEA-MATCHA: +10 (restock), now 12 on hand at main.")
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


PHONE_PAGES = {
    "/": "catalog",
    "/products/TEA-MATCHA": "product",
    "/cart": "cart",
    "/checkout": "checkout",
    "/orders/{number}": "order-page",
    "/staff/": "staff-stock",
    "/staff/products/TEA-MATCHA": "staff-product",
    "/staff/orders": "staff-orders",
    "/staff/login": "login",
}


@pytest.mark.parametrize("path", PHONE_PAGES)
def test_main_pages_fit_a_phone(page, live_server, browser_app, path):
    number = place(browser_app, ("TEA-MATCHA", 1), ("CUP-STONE", 2))
    page.set_viewport_size(PHONE)
    if path in ("/cart", "/checkout"):
        page.goto(live_server + "/products/TEA-SENCHA")
        add(page, "Sencha green tea, 100 g", 2)
        page.goto(live_server + "/products/TEA-EARLGREY")
        add(page, "Earl Grey, loose leaf, 100 g", 5)  # more than there is: the line says so
    if path.startswith("/staff/") and path != "/staff/login":
        log_in(page, live_server, path)
    else:
        page.goto(live_server + path.format(number=number))
    assert_fits(page)
    screenshot(page, f"{PHONE_PAGES[path]}-phone")
