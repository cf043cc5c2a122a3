"""Accessibility in Chromium: axe-core finds no serious or critical violation on any page, storefront
or staff, in its ordinary states and with errors shown; and the whole purchase works with the
keyboard alone. Each page checked leaves a screenshot in tests/browser/screenshots/a11y-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.holds import hold_until
from shop.orders import place_order
from tests.support.browser import assert_accessible, axe_violations, log_in, screenshot, tab_to

ORDER_URL = re.compile(r"/orders/[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


def order(app, status):
    """A customer's order: a confirmed one is a hold (payable on its page), a draft takes nothing."""
    with app.app_context():
        return commit_unit_of_work(
            lambda: place_order(
                db.session,
                [("TEA-SENCHA", 2), ("CUP-STONE", 1)],
                status=status,
                customer_name="Grace Hopper",
                customer_email="grace@example.com",
                hold_until=hold_until(),
            ),
            actor="customer",
        ).number


def add(page, live_server, sku, quantity):
    page.goto(f"{live_server}/products/{sku}")
    page.locator("input[name=quantity]").fill(str(quantity))
    page.locator("form.add-to-cart button").click()
    expect(page.get_by_role("status")).to_contain_text("to your cart")


def check(page, name):
    screenshot(page, f"a11y-{name}")
    assert_accessible(page)


def test_axe_is_really_looking(page, live_server):
    """The harness itself: an unlabelled field is found (so an empty list means something)."""
    page.goto(live_server + "/")
    assert axe_violations(page) == []
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    assert "label" in {v["id"] for v in axe_violations(page)}


STOREFRONT = {
    "catalog": "/",
    "catalog-search": "/?q=tea",
    "catalog-no-match": "/?q=zzz",
    "catalog-past-the-end": "/?page=99",
    "product": "/products/TEA-MATCHA",
    "product-discontinued": "/products/SCALE-MINI",
    "not-found": "/products/NO-SUCH-TEA",
    "cart-empty": "/cart",
}


@pytest.mark.parametrize("name", STOREFRONT)
def test_storefront_pages_have_no_serious_violations(page, live_server, name):
    page.goto(live_server + STOREFRONT[name])
    check(page, name)


def test_cart_checkout_and_their_errors_have_no_serious_violations(page, live_server, browser_app):
    add(page, live_server, "TEA-SENCHA", 2)
    add(page, live_server, "TEA-EARLGREY", 5)  # more than there is: the line warns
    page.goto(live_server + "/products/TEA-ASSAM")
    page.locator("input[name=quantity]").fill("0")
    page.locator("form.add-to-cart button").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the quantity")
    check(page, "add-to-cart-error")

    page.goto(live_server + "/cart")
    check(page, "cart")
    page.get_by_label("Quantity of Sencha green tea, 100 g").fill("-2")
    page.get_by_role("button", name="Update cart").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the quantities")
    check(page, "cart-error")

    page.goto(live_server + "/checkout")
    check(page, "checkout")
    page.get_by_role("button", name="Place order").click()  # no details
    expect(page.get_by_role("alert")).to_contain_text("Please check your details")
    check(page, "checkout-details-error")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@example.com")
    page.get_by_role("button", name="Place order").click()  # Earl Grey is short
    expect(page.get_by_role("alert")).to_contain_text("We couldn't place your order")
    check(page, "checkout-refused")

    page.goto(f"{live_server}/orders/{order(browser_app, 'confirmed')}")
    check(page, "order-hold")
    page.get_by_role("button", name="Pay now (demo)").click()
    expect(page.get_by_role("status")).to_contain_text("is paid")
    check(page, "order-paid")
    page.goto(f"{live_server}/orders/{order(browser_app, 'draft')}")
    check(page, "order-draft")


def test_staff_pages_have_no_serious_violations(page, live_server, browser_app):
    page.goto(live_server + "/staff/login")
    check(page, "staff-login")
    page.get_by_label("E-mail address").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "staff-login-refused")

    order(browser_app, "confirmed")
    log_in(page, live_server)
    check(page, "staff-stock")
    page.goto(live_server + "/staff/?q=tea&sort=on_hand&dir=desc&low=1")
    check(page, "staff-stock-search")
    page.goto(live_server + "/staff/products/TEA-SENCHA")
    check(page, "staff-product")
    page.get_by_label("Price (€)").fill("twelve")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_role("alert")).to_contain_text("was not changed")
    check(page, "staff-product-error")
    page.goto(live_server + "/staff/new-product")
    check(page, "staff-new-product")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("alert")).to_contain_text("The product was not created")
    check(page, "staff-new-product-error")
    page.goto(live_server + "/staff/orders")
    check(page, "staff-orders")
    page.goto(live_server + "/staff/orders?status=awaiting")
    check(page, "staff-orders-awaiting")
    page.goto(live_server + "/staff/integrations")
    check(page, "staff-integrations-empty")
    page.get_by_label("URL").fill("https://10.0.0.1/hooks")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator(".field-error")).to_contain_text("not public")
    check(page, "staff-integrations-error")
    page.get_by_label("URL").fill("https://93.184.216.34/hooks")
    page.get_by_label("order.placed").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("shown only now")
    check(page, "staff-integrations")


def test_the_whole_purchase_with_the_keyboard_alone(page, live_server):
    """Search, add two products, change a quantity, remove one, check out and pay: Tab, typing and Enter only."""
    page.goto(live_server + "/")
    tab_to(page, "a.skip-link")  # the first stop: skip to the content
    tab_to(page, "input#q")
    page.keyboard.type("tea")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?q=tea$"))

    tab_to(page, "a[href='/products/TEA-SENCHA']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sencha green tea, 100 g")
    tab_to(page, "input[name=quantity]")
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")  # submits its form: Add to cart
    expect(page.get_by_role("status")).to_contain_text("Added 2 × Sencha green tea, 100 g")

    page.goto(live_server + "/?q=assam")
    tab_to(page, "form.add-to-cart button")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Added 1 × Assam breakfast tea, 250 g")

    tab_to(page, "a.cart-link", backwards=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    tab_to(page, "input.qty-input")  # the first line's quantity
    assert "Sencha" in page.evaluate("() => document.activeElement.labels[0].textContent")
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # Update cart, not a Remove
    expect(page.get_by_role("status")).to_contain_text("Your cart is updated.")
    expect(page.locator("tr.cart-line")).to_have_count(2)
    for _ in range(30):  # on to the Remove button of the Assam line
        page.keyboard.press("Tab")
        if page.evaluate(
            "() => document.activeElement.matches('button[name=remove]')"
            " && document.activeElement.textContent.includes('Assam')"
        ):
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Removed Assam breakfast tea, 250 g")
    expect(page.locator(".cart-subtotal")).to_have_text("€37.50")

    tab_to(page, "input[value=Checkout]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    tab_to(page, "input#customer_name")
    page.keyboard.type("Ada Lovelace")
    page.keyboard.press("Tab")
    page.keyboard.type("ada@example.com")
    tab_to(page, "input[value='Place order']")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"
    page.keyboard.press("Enter")

    expect(page).to_have_url(ORDER_URL)
    expect(page.get_by_role("status")).to_contain_text("is placed")
    tab_to(page, "form.pay-form button")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("is paid")
    screenshot(page, "keyboard-order-paid")
