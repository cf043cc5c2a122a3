"""Staff forms: login, stock adjustment, product status, order status."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice as _choice
from wtforms.validators import AnyOf, InputRequired, Length, Optional, StopValidation

from ...models import MovementReason, OrderStatus, ProductStatus
from ...stock import MANUAL_REASONS, MAX_LINE_QUANTITY
from ..presentation import PRODUCT_STATUS_LABELS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _lower(value):
    return value.lower() if isinstance(value, str) else value


REASON_LABELS = {
    MovementReason.RESTOCK: "Restock (goods received)",
    MovementReason.ADJUSTMENT: "Adjustment (count correction, damage, …)",
}


class LoginForm(FlaskForm):
    email = EmailField(
        "E-mail address",
        filters=[_strip, _lower],
        validators=[InputRequired("Please enter your e-mail address."), Length(max=254)],
    )
    password = PasswordField(
        "Password", validators=[InputRequired("Please enter your password."), Length(max=1024)]
    )
    next = HiddenField()
    submit = SubmitField("Log in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Log out")


class StockAdjustmentForm(FlaskForm):
    delta = IntegerField(
        "Change in stock",
        validators=[InputRequired("Enter the change, e.g. 12 or -3.")],
        description="A whole number: positive adds stock, negative removes it.",
    )
    reason = SelectField("Reason", choices=[_choice(r.value, REASON_LABELS[r]) for r in MANUAL_REASONS])
    note = TextAreaField(
        "Note",
        filters=[_strip],
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="Optional; kept in the ledger (e.g. delivery note number).",
    )
    submit = SubmitField("Apply change")


class ProductStatusForm(FlaskForm):
    status = SelectField(
        "Status", choices=[_choice(s.value, PRODUCT_STATUS_LABELS[s]) for s in ProductStatus]
    )
    submit = SubmitField("Update status")


class OrderStatusForm(FlaskForm):
    """One button of the order list: move an order to ``status``; ``next`` is where to come back."""

    status = HiddenField(
        validators=[InputRequired(), AnyOf([s.value for s in OrderStatus], message="Unknown order status.")]
    )
    next = HiddenField()


LIMIT_MESSAGE = f"Enter a whole number from 1 to {MAX_LINE_QUANTITY}, or leave it empty for no limit."


def _whole_number_up_to(maximum: int, message: str):
    """1..maximum; unlike NumberRange, safe for integers too large for a float."""

    def check(form, field) -> None:
        if not isinstance(field.data, int) or not 1 <= field.data <= maximum:
            raise StopValidation(message)

    return check


class ProductLimitForm(FlaskForm):
    max_per_order = IntegerField(
        "Limit per order",
        validators=[Optional(), _whole_number_up_to(MAX_LINE_QUANTITY, LIMIT_MESSAGE)],
        description="Units of this product one order may take; empty for no limit.",
    )
    submit = SubmitField("Save limit")


class ReleaseHoldsForm(FlaskForm):
    submit = SubmitField("Release expired holds")
