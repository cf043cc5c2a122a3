"""Staff forms: login, stock adjustment and transfer, a product's details (new and edit), order status, webhook
endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice as _choice
from wtforms.validators import AnyOf, InputRequired, Length, Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from ... import products
from ...errors import Problem
from ...models import Location, MovementReason, OrderStatus, Product, ProductStatus
from ...outbox import EventType
from ...stock import MANUAL_REASONS, transfer_quantity_problem
from ..presentation import PRODUCT_STATUS_LABELS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _lower(value):
    return value.lower() if isinstance(value, str) else value


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (WTForms' documented recipe)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


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
    location = SelectField("Location", description="Where the stock changes.")
    note = TextAreaField(
        "Note",
        filters=[_strip],
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="Optional; kept in the ledger (e.g. delivery note number).",
    )
    submit = SubmitField("Apply change")

    def offer(self, places: Iterable[Location]) -> StockAdjustmentForm:
        """The locations to choose from (a missing choice is the default location, set by the view)."""
        self.location.choices = location_choices(places)
        return self


def location_choices(places: Iterable[Location]) -> list:
    """One choice per location: its code, shown with its name (and why orders skip it, if they do)."""
    choices = []
    for place in places:
        note = (
            ""
            if place.serves_orders
            else (" – inactive" if not place.active else " – does not fulfil orders")
        )
        choices.append(_choice(place.code, f"{place.name} ({place.code}){note}"))
    return choices


class OrderStatusForm(FlaskForm):
    """One button of the order list: move an order to ``status``; ``next`` is where to come back."""

    status = HiddenField(
        validators=[InputRequired(), AnyOf([s.value for s in OrderStatus], message="Unknown order status.")]
    )
    next = HiddenField()


def _rule(check: Callable[[object], Problem | None]):
    """A field validator from one of the product rules of ``shop.products`` (the CLI import's and the API's)."""

    def validate(form, field) -> None:
        if field.process_errors:  # not even a number: its own message says so
            raise StopValidation()
        problem = check(field.data)
        if problem is not None:
            raise StopValidation(problem.message)

    return validate


class StockTransferForm(FlaskForm):
    """Move units of one product from one location to another."""

    quantity = IntegerField(
        "Units to move",
        validators=[
            InputRequired("Enter how many units to move, e.g. 6."),
            _rule(lambda quantity: transfer_quantity_problem(None, quantity)),
        ],
    )
    source = SelectField("From")
    target = SelectField("To")
    note = TextAreaField(
        "Note",
        filters=[_strip],
        validators=[Optional(), Length(max=500, message="At most 500 characters.")],
        description="Optional; kept on both ledger rows.",
    )
    submit = SubmitField("Move stock")

    def offer(self, places: Iterable[Location]) -> StockTransferForm:
        self.source.choices = self.target.choices = location_choices(places)
        return self


PRICE = re.compile(r"€?\s*(\d{1,12})(?:[.,](\d{1,2}))?")


class PriceField(StringField):
    """A price in euros as people type it (``12.50``, ``12,5``, ``€12``); ``data`` is in cents."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        found = PRICE.fullmatch(valuelist[0].strip())
        if not found:
            self.data = None
            raise ValueError("Enter a price in euros, like 12.50.")
        euros, cents = found.groups()
        self.data = int(euros) * 100 + int((cents or "0").ljust(2, "0"))

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data // 100}.{self.data % 100:02d}" if isinstance(self.data, int) else ""


class ProductForm(FlaskForm):
    """What staff set on a product (stock excepted), checked with the rules of ``shop.products``."""

    name = StringField(
        "Name", filters=[_strip], validators=[InputRequired("Enter a name."), _rule(products.name_problem)]
    )
    price = PriceField(
        "Price (€)",
        validators=[InputRequired("Enter a price, like 12.50."), _rule(products.price_problem)],
        description="In euros, e.g. 12.50.",
    )
    low_stock_threshold = IntegerField(
        "Low-stock threshold",
        default=products.DEFAULT_THRESHOLD,
        validators=[InputRequired("Enter a whole number, e.g. 5."), _rule(products.threshold_problem)],
        description="Flagged as low stock at or below this many units.",
    )
    max_per_order = IntegerField(
        "Limit per order",
        validators=[Optional(), _rule(products.limit_problem)],
        description="Units of this product one order may take; empty for no limit.",
    )
    status = SelectField(
        "Status",
        choices=[_choice(s.value, PRODUCT_STATUS_LABELS[s]) for s in ProductStatus],
        default=ProductStatus.ACTIVE.value,
        description="Unavailable and discontinued products cannot be ordered.",
    )
    submit = SubmitField("Save product")

    @classmethod
    def of(cls, product: Product) -> ProductForm:
        """The form filled in with what ``product`` has now."""
        return cls(
            formdata=None,
            data={
                "name": product.name,
                "price": product.price_cents,
                "low_stock_threshold": product.low_stock_threshold,
                "max_per_order": product.max_per_order,
                "status": product.status,
            },
        )

    def details(self) -> products.ProductDetails:
        assert self.name.data is not None and isinstance(self.price.data, int)  # a validated form
        assert self.low_stock_threshold.data is not None and self.status.data is not None
        return products.ProductDetails(
            name=self.name.data,
            price_cents=self.price.data,
            low_stock_threshold=self.low_stock_threshold.data,
            max_per_order=self.max_per_order.data,
            status=self.status.data,
        )

    def show_problems(self, problems: Iterable[Problem]) -> None:
        """Put each problem the service found next to its field (``products.FIELD_OF_CODE``)."""
        fields = {"price_cents": "price"}
        for problem in problems:
            name = products.FIELD_OF_CODE.get(problem.code, "")
            field = self._fields.get(fields.get(name, name))
            if field is not None:
                field.errors = [*field.errors, problem.message]
            else:
                self.form_errors.append(problem.message)


class NewProductForm(ProductForm):
    """A new product: its SKU and initial stock too (the stock is ledgered as ``initial_stock``)."""

    sku = StringField(
        "SKU",
        filters=[_strip],
        validators=[InputRequired("Enter a SKU, e.g. TEA-SENCHA."), _rule(products.sku_problem)],
        description="1-64 letters, digits, '.', '_' or '-'; it cannot be changed later.",
    )
    initial_stock = IntegerField(
        "Initial stock",
        default=0,
        validators=[InputRequired("Enter a whole number, e.g. 0."), _rule(products.stock_problem)],
        description="Units on hand now; later changes go through stock adjustments.",
    )
    submit = SubmitField("Create product")


class ReleaseHoldsForm(FlaskForm):
    submit = SubmitField("Release expired holds")


class WebhookEndpointForm(FlaskForm):
    """A new webhook endpoint: where, which events (none ticked: all), what it is."""

    url = StringField(
        "URL", filters=[_strip], validators=[InputRequired(message="Enter the endpoint's URL.")]
    )
    event_types = MultiCheckboxField("Events", choices=[_choice(t.value, t.value) for t in EventType])
    description = StringField("Description", filters=[_strip], validators=[Length(max=200)])
    submit = SubmitField("Add endpoint")


class ButtonForm(FlaskForm):
    """A button that posts nothing but its CSRF token (enable, disable, retry, …)."""
