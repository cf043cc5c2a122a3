"""The checkout form: one quantity field per product, the customer, and a signed order number."""

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
    Optional,
    Regexp,
    StopValidation,
)

from ...errors import Problem
from ...models import new_order_number
from ...stock import MAX_LINE_QUANTITY

QUANTITY_PREFIX = "qty-"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_SALT = "shop.checkout.order-number"
QUANTITY_MESSAGE = f"Enter a whole number from 0 to {MAX_LINE_QUANTITY}."


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _at_most_max_quantity(form, field) -> None:
    """Refuse huge numbers before NumberRange, whose ``math.isnan`` overflows past ~1e308."""
    if isinstance(field.data, int) and abs(field.data) > MAX_LINE_QUANTITY:
        raise StopValidation(QUANTITY_MESSAGE)


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
    """Build it with :meth:`for_products`: the quantity fields depend on the catalog."""

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

    @classmethod
    def for_products(cls, skus: Iterable[str], **kwargs) -> CheckoutForm:
        """A form with a quantity field named ``qty-<SKU>`` for each SKU."""

        Form = type("Form", (cls,), {})

        for sku in dict.fromkeys(skus):
            setattr(
                Form,
                QUANTITY_PREFIX + sku,
                IntegerField(
                    sku,
                    validators=[
                        Optional(),
                        _at_most_max_quantity,
                        NumberRange(min=0, max=MAX_LINE_QUANTITY, message=QUANTITY_MESSAGE),
                    ],
                ),
            )
        return Form(**kwargs)

    @property
    def quantity_fields(self) -> dict:
        """SKU → its quantity field."""
        return {f.name[len(QUANTITY_PREFIX) :]: f for f in self if f.name.startswith(QUANTITY_PREFIX)}

    def lines(self) -> list[tuple[str, int]]:
        """(SKU, quantity) for every product the customer asked for."""
        return [(sku, f.data) for sku, f in self.quantity_fields.items() if f.data]

    @property
    def status(self) -> str:
        return "draft" if self.save_draft.data else "confirmed"

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if valid and not self.lines():
            self.form_errors.append("Choose a quantity for at least one product.")
            return False
        return valid

    def mark_problems(self, problems: Iterable[Problem]) -> None:
        """Show each refused line's problem next to its quantity field."""
        fields = self.quantity_fields
        for problem in problems:
            if problem.sku in fields:
                fields[problem.sku].errors = [*fields[problem.sku].errors, problem.message]

    def error_lines(self, labels: dict[str, str]) -> list[str]:
        """Every validation error as one line; ``labels`` names the quantity fields' products."""
        lines = list(self.form_errors)
        for field in self:
            for error in field.errors:
                sku = field.name[len(QUANTITY_PREFIX) :] if field.name.startswith(QUANTITY_PREFIX) else None
                label = labels.get(sku, sku) if sku else field.label.text
                lines.append(error if field is self.order_token else f"{label}: {error}")
        return lines


class DemoPaymentForm(FlaskForm):
    """The demo provider's "Pay now (demo)" button (``SHOP_DEMO_PAYMENTS``)."""

    submit = SubmitField("Pay now (demo)")
