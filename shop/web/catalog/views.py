"""Catalog and checkout at ``/``, the order page at ``/orders/<number>``.

Each write follows form → service → one commit → flash → redirect. A refused order
is shown again (422) with everything the customer typed and every problem named.
"""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ...database import commit_unit_of_work
from ...errors import InventoryError, PaymentRefused
from ...extensions import db
from ...holds import commit_checkout, hold_until
from ...models import Order, Product
from ...orders import find_order, place_order
from ...payments import PAYMENT_ACTOR, Outcome, PaymentNotice, record_payment
from ...rate_limits import limit_checkout
from ...stock import MAX_LINE_QUANTITY
from ..presentation import availability
from . import bp
from .forms import QUANTITY_PREFIX, CheckoutForm, DemoPaymentForm

CUSTOMER_ACTOR = "customer"
REFUSED_HEADING = "We couldn't place your order:"


def catalog_products() -> list[Product]:
    stmt = select(Product).options(selectinload(Product.inventory)).order_by(Product.name, Product.sku)
    return list(db.session.scalars(stmt))


def _posted_skus() -> list[str]:
    """SKUs of the quantity fields a submitted form carries (a product may be gone since)."""
    return [key[len(QUANTITY_PREFIX) :] for key in request.form if key.startswith(QUANTITY_PREFIX)]


def _render_catalog(products: list[Product], form: CheckoutForm, status: int = 200):
    items = [(product, availability(product), form[QUANTITY_PREFIX + product.sku]) for product in products]
    return render_template(
        "catalog/index.html", items=items, form=form, max_quantity=MAX_LINE_QUANTITY
    ), status


@bp.route("/", methods=["GET", "POST"])
@limit_checkout
def index():
    """The catalog with a quantity field per product; "Place order" or "Save as draft"."""
    products = catalog_products()
    form = CheckoutForm.for_products([p.sku for p in products] + _posted_skus())
    if not form.validate_on_submit():
        if not form.is_submitted():
            return _render_catalog(products, form)
        names = {p.sku: p.name for p in products}
        flash("\n".join(["Please check your order:", *form.error_lines(names)]), "error")
        return _render_catalog(products, form, 422)

    number = form.order_token.data
    assert number is not None  # InputRequired
    hold = hold_until()  # a customer's confirmed order is a hold
    try:
        order = commit_checkout(
            lambda: place_order(
                db.session,
                form.lines(),
                status=form.status,
                customer_name=form.customer_name.data,
                customer_email=form.customer_email.data,
                number=number,
                hold_until=hold,
            ),
            actor=CUSTOMER_ACTOR,
        )
    except InventoryError as exc:
        flash("\n".join([REFUSED_HEADING, *(p.message for p in exc.problems)]), "error")
        form.mark_problems(exc.problems)
        return _render_catalog(products, form, 422)
    except IntegrityError:
        # The same form came back (double click, back and resubmit): its number is taken.
        existing = find_order(db.session, number)
        if existing is None:
            raise
        flash(f"This order was already submitted: here is order {existing.number}.", "info")
        return redirect(url_for(".order", number=existing.number))

    if order.status == "draft":
        flash(f"Your draft order {order.number} is saved. Nothing is reserved until it is placed.", "success")
    else:
        flash(f"Thank you! Your order {order.number} is placed and its items are held for you.", "success")
    return redirect(url_for(".order", number=order.number))


def _order_or_404(number: str) -> Order:
    found = find_order(db.session, number)
    if found is None:
        abort(404, description="There is no order with that number. Please check the link.")
    return found


@bp.get("/orders/<number>")
def order(number: str):
    """An order's lines, totals, status and hold; the unguessable number is the key. Never writes."""
    return render_template("catalog/order.html", order=_order_or_404(number), pay_form=DemoPaymentForm())


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
        result = commit_unit_of_work(
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
