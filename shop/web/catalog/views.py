"""The storefront: catalog (``/``), product pages, cart, checkout, the order page and its demo payment.

Each write follows form → service → one commit (for an order) → flash → redirect. A refused
checkout is shown again (422) with every problem on its line, and the cart is kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import IntegrityError

from ... import hoarding
from ...clients import client_address
from ...database import commit_unit_of_work
from ...errors import InventoryError, PaymentRefused, Problem
from ...extensions import db
from ...holds import commit_checkout, hold_until
from ...models import Order, Product
from ...orders import find_order
from ...payments import PAYMENT_ACTOR, Outcome, PaymentNotice, PaymentResult, record_payment
from ...products import find_product
from ...rate_limits import limit_checkout
from ...search import MAX_QUERY_LENGTH, catalog_page
from ...stock import MAX_LINE_QUANTITY, for_strangers
from ..inputs import refuse_nul_characters
from ..presentation import (
    availability,
    catalog_meta,
    hold_note,
    product_meta,
    product_structured_data,
    safe_next,
)
from . import cart as carts
from .forms import QUANTITY_PREFIX, AddToCartForm, CartForm, CheckoutForm, DemoPaymentForm, RemoveFromCartForm

bp = Blueprint("catalog", __name__)
bp.before_request(refuse_nul_characters)
CUSTOMER_ACTOR = "customer"
REFUSED_HEADING = "We couldn't place your order:"


@bp.before_request
def read_the_cart():
    """Every storefront request reads the cart first: a bad one is dropped (with a message) here."""
    carts.load_cart()


def _page_number() -> int:
    return request.args.get("page", 1, type=int) or 1


# -- catalog and product pages ----------------------------------------------------------------


@bp.get("/")
def index():
    """The catalog: 24 products a page, searched by the words of their name and SKU (``?q=``)."""
    query = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    page = catalog_page(db.session, query, _page_number(), current_app.config["SHOP_CATALOG_PAGE_SIZE"])
    items = [(product, availability(product)) for product in page.items]
    return render_template(
        "catalog/index.html",
        page=page,
        items=items,
        query=query,
        meta=catalog_meta(page, query),
        **_add_form(),
    )


@dataclass(frozen=True)
class AddToCartPage:
    """What every "Add to cart" form of a page shares, worked out once (not once per product)."""

    action: str
    csrf: str
    here: str  # the page to come back to
    max_quantity: int
    add_form: AddToCartForm | None  # a refused submission, shown again with its error


def _add_form(form: AddToCartForm | None = None) -> dict:
    shared = AddToCartPage(
        url_for(".add_to_cart"), generate_csrf(), request.full_path.rstrip("?"), MAX_LINE_QUANTITY, form
    )
    return {"forms": shared}


def _product_or_404(sku: str) -> Product:
    product = find_product(db.session, sku)
    if product is None:
        abort(
            404,
            description="We couldn't find that product. It may have been renamed or taken out of the shop.",
        )
    return product


def _render_product(product: Product, form: AddToCartForm | None = None, status: int = 200):
    badge = availability(product)
    return render_template(
        "catalog/product.html",
        product=product,
        availability=badge,
        meta=product_meta(product, badge),
        structured_data=product_structured_data(product, badge),
        **_add_form(form),
    ), status


@bp.get("/products/<sku>")
def product(sku: str):
    """One product: its price, availability, per-order limit and "Add to cart"."""
    return _render_product(_product_or_404(sku))


# -- cart ------------------------------------------------------------------------------------------


@bp.post("/cart/add")
def add_to_cart():
    """Add a quantity of one product; back to the page the form was on (or the product's page)."""
    form = AddToCartForm()
    if not form.validate():
        if form.sku.data and (product := find_product(db.session, form.sku.data)) is not None:
            flash("\n".join(["Please check the quantity:", *_field_errors(form)]), "error")
            return _render_product(product, form, 422)
        abort(400, description="This form is incomplete or has expired. Please go back and try again.")
    product = _product_or_404(form.sku.data or "")
    badge = availability(product)
    quantity = form.quantity.data
    assert quantity is not None  # InputRequired
    if not badge.orderable:
        flash(f"Sorry, {product.name} can't be ordered right now ({badge.label.lower()}).", "error")
        return _render_product(product, form, 422)
    try:
        carts.save_cart(carts.add(carts.load_cart(), product.id, quantity))
    except carts.CartRefused as exc:
        flash(str(exc), "error")
        return _render_product(product, form, 422)
    flash(f"Added {quantity} × {product.name} to your cart.", "success")
    return redirect(safe_next(form.next.data) or url_for(".product", sku=product.sku))


def _field_errors(form) -> list[str]:
    return [error for field in form for error in field.errors]


def _render_cart(lines: list[carts.CartLine], form: CartForm, status: int = 200):
    return render_template(
        "catalog/cart.html",
        lines=lines,
        form=form,
        remove_form=RemoveFromCartForm(formdata=None),
        subtotal=sum(line.line_total_cents for line in lines),
        max_quantity=MAX_LINE_QUANTITY,
    ), status


@bp.get("/cart")
def cart():
    """The cart: quantities ("Update cart"), "Remove", subtotal, and what would stop each line now."""
    lines = carts.cart_lines(db.session, carts.load_cart())
    form = CartForm.for_lines(
        [line.product_id for line in lines],
        formdata=None,
        data={f"qty-{ln.product_id}": ln.quantity for ln in lines},
    )
    return _render_cart(lines, form)


@bp.post("/cart")
def update_cart():
    """ "Update cart" sets the quantity of every line sent (0 removes it); "Checkout" then goes on.

    A line the form does not carry (added in another tab since) keeps its quantity.
    """
    cart = carts.load_cart()
    form = CartForm.for_lines(pid for pid in cart if f"{QUANTITY_PREFIX}{pid}" in request.form)
    if not form.validate():
        lines = carts.cart_lines(db.session, cart)
        flash("\n".join(["Please check the quantities:", *_quantity_errors(form, lines)]), "error")
        return _render_cart(lines, form, 422)
    carts.save_cart(carts.with_quantities(cart, form.quantities()))
    if form.checkout.data:
        return redirect(url_for(".checkout"))
    flash("Your cart is updated." if cart else "Your cart is empty.", "success" if cart else "info")
    return redirect(url_for(".cart"))


def _quantity_errors(form: CartForm, lines: list[carts.CartLine]) -> list[str]:
    return [
        f"{line.product.name if line.product else 'A product that is no longer sold'}: {error}"
        for line in lines
        if f"{QUANTITY_PREFIX}{line.product_id}" in form
        for error in form.quantity_field(line.product_id).errors
    ]


@bp.post("/cart/remove")
def remove_from_cart():
    """A line's "Remove" button."""
    form = RemoveFromCartForm()
    if not form.validate():
        abort(400, description="This form is incomplete. Please reload your cart and try again.")
    cart = carts.load_cart()
    product_id = form.remove.data
    if product_id in cart:
        product = db.session.get(Product, product_id)
        carts.save_cart(carts.without(cart, product_id))
        flash(
            f"Removed {product.name if product else 'a product that is no longer sold'} from your cart.",
            "success",
        )
    return redirect(url_for(".cart"))


# -- checkout ----------------------------------------------------------------------------------


def _render_checkout(
    lines: list[carts.CartLine], form: CheckoutForm, status: int = 200, *, refused: bool = False
):
    return render_template(
        "catalog/checkout.html",
        lines=lines,
        form=form,
        total=sum(line.line_total_cents for line in lines),
        refused=refused,
    ), status


@bp.route("/checkout", methods=["GET", "POST"])
@limit_checkout
def checkout():
    """The cart's lines and total, the customer's details, "Place order" and "Save as draft".

    Placing goes through ``hoarding.place_customer_order`` (``place_order`` held to a customer's
    limits) in one transaction: confirmed (a hold) or a draft. The signed order number of the form
    makes a second submission find the first order instead of placing another. Success empties the
    cart; a refusal keeps it and names every problem.
    """
    cart = carts.load_cart()
    form = CheckoutForm()
    if not form.is_submitted():
        if not cart:
            return _empty_cart()
        return _render_checkout(carts.cart_lines(db.session, cart), form)
    if not form.validate():
        flash("\n".join(["Please check your details:", *form.error_lines()]), "error")
        return _render_checkout(carts.cart_lines(db.session, cart), form, 422)
    number = form.order_token.data
    assert number is not None  # InputRequired
    if not cart:
        return _already_placed(number) or _empty_cart()
    lines = carts.cart_lines(db.session, cart)
    if unknown := [line for line in lines if line.product is None]:
        return _refuse(lines, form, [p for line in unknown for p in line.problems])

    hold = hold_until()  # a customer's confirmed order is a hold
    limits = hoarding.for_customer(client_address())
    try:
        order = commit_checkout(
            lambda: hoarding.place_customer_order(
                db.session,
                [(line.product.sku, line.quantity) for line in lines if line.product is not None],
                limits=limits,
                status=form.status,
                customer_name=form.customer_name.data,
                customer_email=form.customer_email.data,
                number=number,
                hold_until=hold,
            ),
            actor=CUSTOMER_ACTOR,
        )
    except InventoryError as exc:
        return _refuse(carts.cart_lines(db.session, cart), form, exc.problems)
    except IntegrityError:
        # The same form came back (double click, back and resubmit): its number is taken.
        found = _already_placed(number)
        if found is None:
            raise
        return found

    carts.save_cart({})
    if order.status == "draft":
        flash(f"Your draft order {order.number} is saved. Nothing is reserved until it is placed.", "success")
    else:
        flash(f"Thank you! Your order {order.number} is placed and its items are held for you.", "success")
    return redirect(url_for(".order", number=order.number))


def _refuse(lines: list[carts.CartLine], form: CheckoutForm, found: list[Problem]):
    """The checkout page again (422): every problem on its own line of the cart, and all of them listed.

    As a stranger is told them: a shortage names the units left only when stock is low.
    """
    problems = [for_strangers(p) for p in found]
    by_sku: dict[str | None, list[Problem]] = {}
    for problem in problems:
        by_sku.setdefault(problem.sku, []).append(problem)
    for line in lines:
        if line.product is not None:
            line.problems = by_sku.get(line.sku, [])
    order = {line.sku: i for i, line in enumerate(lines)}  # listed in the order of the cart's lines
    listed = sorted(problems, key=lambda p: order.get(p.sku, -1))
    flash("\n".join([REFUSED_HEADING, *(p.message for p in listed)]), "error")
    return _render_checkout(lines, form, 422, refused=True)


def _already_placed(number: str):
    existing = find_order(db.session, number)
    if existing is None:
        return None
    flash(f"This order was already submitted: here is order {existing.number}.", "info")
    return redirect(url_for(".order", number=existing.number))


def _empty_cart():
    flash("Your cart is empty: add something from the catalog first.", "info")
    return redirect(url_for(".cart"))


# -- the order page and the demo payment -------------------------------------------------------


def _order_or_404(number: str) -> Order:
    found = find_order(db.session, number)
    if found is None:
        abort(404, description="There is no order with that number. Please check the link.")
    return found


@bp.get("/orders/<number>")
def order(number: str):
    """An order's lines, totals, status and hold; the unguessable number is the key. Never writes."""
    found = _order_or_404(number)
    hold = hold_note(found)
    return render_template(
        "catalog/order.html",
        order=found,
        hold=hold,
        offer_demo_payment=hold is not None and hold.payable and current_app.config["SHOP_DEMO_PAYMENTS"],
        pay_form=DemoPaymentForm(),
    )


@bp.post("/orders/<number>/pay")
def pay_demo(number: str):
    """The demo payment provider: pays a live hold through the same service as a real notification."""
    if not current_app.config["SHOP_DEMO_PAYMENTS"]:
        abort(404)
    found = _order_or_404(number)
    if not DemoPaymentForm().validate_on_submit():
        abort(400)
    currency = current_app.config["SHOP_CURRENCY"]
    notice = PaymentNotice(f"demo-{secrets.token_hex(8)}", found.number, found.total_cents, currency)
    try:
        result: PaymentResult = commit_unit_of_work(
            lambda: record_payment(db.session, notice, currency=currency), actor=PAYMENT_ACTOR
        )
    except PaymentRefused as exc:
        flash(exc.problems[0].message, "error")
    else:
        if result.outcome is Outcome.HOLD_EXPIRED:
            flash("Your hold expired before the payment arrived; nothing was charged.", "error")
        else:
            flash(f"Thank you! Order {found.number} is paid (demo payment, no money moved).", "success")
    return redirect(url_for(".order", number=found.number))
