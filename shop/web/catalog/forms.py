"""The storefront's forms: add to cart, the cart's quantities, checkout (with a signed order number)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import EmailField, HiddenField, IntegerField, StringField, SubmitField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Regexp,
    StopValidation,
)

from ...models import new_order_number
from ...stock import MAX_LINE_QUANTITY

QUANTITY_PREFIX = "qty-"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_SALT = "shop.checkout.order-number"
QUANTITY_MESSAGE = f"Enter a whole number from 0 to {MAX_LINE_QUANTITY}."


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _at_most_max_quantity(message: str):
    """Refuse huge numbers before NumberRange, whose ``math.isnan`` overflows past ~1e308."""

    def check(form, field) -> None:
        if isinstance(field.data, int) and abs(field.data) > MAX_LINE_QUANTITY:
            raise StopValidation(message)

    return check


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


class SignedOrderNumberField(HiddenField):
    """A hidden order number chosen when the form is shown, signed so it cannot be forged.

    Submitting the same form twice submits the same number, and the unique
    ``orders.number`` turns the second submission into "already placed".
    """

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = _serializer().loads(valuelist[0])
        except BadSignature:
            self.data = new_order_number()  # shown again with the form, so the next try works
            raise ValueError("This form has expired; please submit it again.") from None

    def _value(self) -> str:
        return _serializer().dumps(self.data) if self.data else ""


class CheckoutForm(FlaskForm):
    """The customer's details, the signed order number, and "Place order" or "Save as draft"."""

    customer_name = StringField(
        "Your name",
        filters=[_strip],
        validators=[
            DataRequired("Please enter your name."),
            Length(max=200, message="Your name can be at most 200 characters."),
        ],
    )
    customer_email = EmailField(
        "E-mail address",
        filters=[_strip],
        validators=[
            DataRequired("Please enter your e-mail address."),
            Length(max=254, message="The e-mail address can be at most 254 characters."),
            Regexp(EMAIL_PATTERN, message="Enter an e-mail address like name@example.com."),
        ],
    )
    order_token = SignedOrderNumberField(
        default=new_order_number, validators=[InputRequired("This form has expired; please submit it again.")]
    )
    place = SubmitField("Place order")
    save_draft = SubmitField("Save as draft")

    @property
    def status(self) -> str:
        return "draft" if self.save_draft.data else "confirmed"

    def error_lines(self) -> list[str]:
        """Every validation error as one line, named by its field."""
        return [
            error if field is self.order_token else f"{field.label.text}: {error}"
            for field in self
            for error in field.errors
        ]


def _quantity_field(label: str, minimum: int, message: str) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            InputRequired(message),
            _at_most_max_quantity(message),
            NumberRange(min=minimum, max=MAX_LINE_QUANTITY, message=message),
        ],
    )


ADD_MESSAGE = f"Enter a whole number from 1 to {MAX_LINE_QUANTITY}."


class AddToCartForm(FlaskForm):
    """One product's "Add to cart": its SKU, how many, and the page to come back to."""

    sku = HiddenField(validators=[InputRequired(), Length(max=64)])
    quantity = _quantity_field("Quantity", 1, ADD_MESSAGE)
    next = HiddenField()
    submit = SubmitField("Add to cart")


class CartForm(FlaskForm):
    """The cart's quantity fields (``qty-<product id>``, 0 removes a line), "Update cart" and "Checkout".

    Build it with :meth:`for_lines`: the fields depend on the cart.
    """

    update = SubmitField("Update cart")
    checkout = SubmitField("Checkout")

    @classmethod
    def for_lines(cls, product_ids: Iterable[int], **kwargs) -> CartForm:
        Form = type("Form", (cls,), {})
        for product_id in product_ids:
            setattr(Form, f"{QUANTITY_PREFIX}{product_id}", _quantity_field("Quantity", 0, QUANTITY_MESSAGE))
        return Form(**kwargs)

    def quantity_field(self, product_id: int):
        return self[f"{QUANTITY_PREFIX}{product_id}"]

    def quantities(self) -> dict[int, int]:
        """Product id → the quantity asked for."""
        return {
            int(f.name[len(QUANTITY_PREFIX) :]): f.data
            for f in self
            if f.name.startswith(QUANTITY_PREFIX) and f.data is not None
        }


class RemoveFromCartForm(FlaskForm):
    """A line's "Remove" button: the product id is the button's value."""

    remove = IntegerField(validators=[InputRequired()])


class DemoPaymentForm(FlaskForm):
    """The demo provider's "Pay now (demo)" button (``SHOP_DEMO_PAYMENTS``)."""

    submit = SubmitField("Pay now (demo)")
