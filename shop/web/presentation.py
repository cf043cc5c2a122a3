"""How domain facts are shown: availability badges, allowed order actions, money and dates.

Small functions the views and templates call, so that no rule is written in a template.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app, request, url_for

from ..errors import Problem
from ..holds import HoldState, hold_state, units_on_offer
from ..models import Location, Order, OrderStatus, Product, ProductStatus, utcnow
from ..orders import TRANSITIONS
from ..outbox import DeliveryStatus, EventDelivery, WebhookEndpoint
from ..outbox.mail import public_url
from ..search import CatalogPage
from ..stock import Availability, order_limit, stock_is_low
from ..stock import availability as stock_availability


@dataclass(frozen=True)
class Badge:
    """How an availability is shown: a label and a CSS class; ``orderable`` enables the quantity field."""

    key: Availability
    label: str
    css_class: str

    @property
    def orderable(self) -> bool:
        return self.key.orderable


_BADGES = {
    Availability.IN_STOCK: ("In stock", "badge-in-stock"),
    Availability.LOW_STOCK: ("Only {on_hand} left", "badge-low"),
    Availability.OUT_OF_STOCK: ("Out of stock", "badge-out"),
    Availability.UNAVAILABLE: ("Temporarily unavailable", "badge-unavailable"),
    Availability.DISCONTINUED: ("Discontinued", "badge-discontinued"),
}


def on_hand(product: Product) -> int | None:
    """Units at active locations that fulfil orders; None when none of them keeps the product (not stocked)."""
    return product.on_hand


def stock_at(product: Product) -> dict[int, int]:
    """Units of ``product`` at each location id that keeps it (the stock table's location columns)."""
    return {row.location_id: row.quantity for row in product.stocks}


def location_note(location: Location) -> str:
    """What a location's stock counts for: nothing is said of one that serves orders."""
    if not location.active:
        return "inactive"
    return "" if location.fulfils_orders else "does not fulfil orders"


def allocation_lines(order: Order) -> list[str]:
    """Where each line of ``order`` took its units, as ``TEA-SENCHA: 2 at main, 1 at floor`` (none: not taken)."""
    return [
        f"{item.product.sku}: " + ", ".join(f"{a.quantity} at {a.location.code}" for a in item.allocations)
        for item in order.items
        if item.allocations
    ]


def is_low_stock(product: Product) -> bool:
    """The staff pages' low-stock flag (the rule is ``shop.stock.stock_is_low``)."""
    return stock_is_low(on_hand(product), product.low_stock_threshold)


def availability(product: Product) -> Badge:
    """The badge for ``product`` (the rule is ``shop.stock.availability``, as in the API).

    Units that expired holds keep count as available (``shop.holds.units_on_offer``): the checkout
    releases them, so they never turn a buyer away.
    """
    offered = units_on_offer(product)
    key = stock_availability(product.status, offered, product.low_stock_threshold)
    label, css_class = _BADGES[key]
    return Badge(key, label.format(on_hand=offered), css_class)


def per_order_limit(product: Product) -> int | None:
    """How many units of ``product`` one customer's order may take (None: no limit).

    Its own ``max_per_order``, else the shop's ``SHOP_DEFAULT_MAX_PER_ORDER`` (the rule is
    ``shop.stock.order_limit``): the catalog, the product page and the cart say the same.
    """
    return order_limit(product.max_per_order, current_app.config["SHOP_DEFAULT_MAX_PER_ORDER"])


def line_problem(problem: Problem) -> str:
    """What a cart or checkout line says when it cannot be served (the product is named by the line).

    A shortage names the units left only when a stranger may know them (``shop.stock.for_strangers``).
    """
    if problem.code == "insufficient_stock":
        if problem.available is None:
            return "Not enough in stock right now."
        return f"Only {problem.available} left right now." if problem.available else "Out of stock right now."
    if problem.code == "over_limit":
        return f"At most {problem.limit} per order."
    return _LINE_PROBLEMS.get(problem.code, problem.message)


_LINE_PROBLEMS = {
    "unknown_product": "This product is no longer sold.",
    "discontinued": "Discontinued: it can no longer be ordered.",
    "unavailable": "Temporarily unavailable.",
    "no_inventory": "Out of stock.",
}


PRODUCT_STATUS_LABELS: dict[str, str] = {
    ProductStatus.ACTIVE: "Active",
    ProductStatus.UNAVAILABLE: "Temporarily unavailable",
    ProductStatus.DISCONTINUED: "Discontinued",
}


_PRODUCT_STATUS_CLASSES: dict[str, str] = {
    ProductStatus.ACTIVE: "badge-in-stock",
    ProductStatus.UNAVAILABLE: "badge-unavailable",
    ProductStatus.DISCONTINUED: "badge-discontinued",
}


def product_status_label(status: str) -> str:
    return PRODUCT_STATUS_LABELS.get(status, status)


def product_status_class(status: str) -> str:
    return _PRODUCT_STATUS_CLASSES.get(status, "badge-unavailable")


@dataclass(frozen=True)
class OrderAction:
    """A button that moves an order to ``status``."""

    status: str
    label: str
    css_class: str


_ACTIONS = [
    OrderAction(OrderStatus.CONFIRMED, "Confirm", "btn-secondary"),
    OrderAction(OrderStatus.PAID, "Mark paid", "btn-primary"),
    OrderAction(OrderStatus.CANCELLED, "Cancel", "btn-danger"),
]


def order_actions(status: str) -> list[OrderAction]:
    """The transitions ``shop.orders.TRANSITIONS`` allows from ``status``, as buttons."""
    allowed = TRANSITIONS.get(status, set())
    return [action for action in _ACTIONS if action.status in allowed]


_STATUS_NOTES: dict[str, str] = {
    OrderStatus.DRAFT: "This is a draft: it is saved, but nothing is reserved until it is placed.",
    OrderStatus.CONFIRMED: "Your order is confirmed and its items are reserved for you.",
    OrderStatus.PAID: "Your order is paid. Thank you!",
    OrderStatus.CANCELLED: "This order was cancelled; its items went back into stock.",
}


def status_note(status: str) -> str:
    """One sentence telling a customer what an order's status means."""
    return _STATUS_NOTES.get(status, "")


@dataclass(frozen=True)
class HoldNote:
    """What is said about the hold on an order, how it looks, and whether it can still be paid."""

    text: str
    css_class: str
    payable: bool = False


def minutes_left(until: datetime, now: datetime) -> str:
    seconds = (until - now).total_seconds()
    if seconds < 60:
        return "less than a minute left"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''} left"


def hold_note(order: Order, now: datetime | None = None) -> HoldNote | None:
    """What a customer is told: the hold's time left, or what happened when it expired; None if no hold."""
    now = now or utcnow()
    state, until = hold_state(order, now), order.hold_expires_at
    if state is HoldState.NONE or until is None:
        return None
    at = f"{until:%H:%M} UTC"
    if state is HoldState.LIVE:
        text = f"Held for you until {at}, {minutes_left(until, now)}. Pay before then to keep it."
        return HoldNote(text, "is-live", payable=True)
    if state is HoldState.EXPIRED:
        return HoldNote(
            f"Your hold expired at {at}: the items are being released back into stock.", "is-expired"
        )
    return HoldNote(
        f"Your hold expired at {at} before it was paid, so the items went back into stock. "
        "You are welcome to order them again.",
        "is-expired",
    )


def staff_hold_note(order: Order, now: datetime | None = None) -> HoldNote | None:
    """What the staff order list says of an unpaid hold (time left, or expired); None otherwise."""
    now = now or utcnow()
    state, until = hold_state(order, now), order.hold_expires_at
    if until is None or state is HoldState.NONE or state is HoldState.RELEASED:
        return None  # a released hold is a cancelled order: its status says it
    if state is HoldState.EXPIRED:
        return HoldNote(f"hold expired {timestamp(until)}", "hold-expired")
    return HoldNote(f"held until {until:%H:%M} UTC · {minutes_left(until, now)}", "muted", payable=True)


def money(cents: int | None) -> str:
    """``1250`` → ``€12.50``."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    return f"{sign}€{abs(cents) / 100:,.2f}"


def timestamp(value: datetime | None, zone: bool = True) -> str:
    """A stored (naive UTC) datetime for people: ``2025-03-01 14:05 UTC``."""
    if value is None:
        return "—"
    return f"{value:%Y-%m-%d %H:%M}" + (" UTC" if zone else "")


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``1 product``, ``3 products``; ``plural`` where adding an "s" is wrong (``1 product matches``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def last_page_note(pages: int, searching: bool) -> str:
    """What the catalog says when asked for a page past its last one (it shows the last one)."""
    there = "There is only 1 page" if pages == 1 else f"There are only {pages} pages"
    return there + (" of results" if searching else "") + ": here is the last one."


def delta_class(delta: int) -> str:
    """The CSS class of a ledger row's change: stock came in, or went out."""
    return "delta-up" if delta > 0 else "delta-down"


def reason_label(reason: str) -> str:
    """``order_placed`` → ``Order placed``."""
    return reason.replace("_", " ").capitalize()


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/staff/orders?page=2``), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target


def url_with(**changes) -> str:
    """The current page's URL with some query arguments changed (None removes one)."""
    args = {**request.args.to_dict(), **changes}
    assert request.endpoint is not None  # only called while rendering a routed page
    return url_for(
        request.endpoint,
        **(request.view_args or {}),
        **{k: v for k, v in args.items() if v is not None and v != ""},
    )


# -- integrations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A short state for people, and how it looks."""

    text: str
    css_class: str


_DELIVERY_LABELS = {
    DeliveryStatus.PENDING: Label("Pending", "badge-low"),
    DeliveryStatus.DELIVERED: Label("Delivered", "badge-in-stock"),
    DeliveryStatus.FAILED: Label("Failed", "badge-out"),
}


def delivery_label(delivery: EventDelivery) -> Label:
    """Where a delivery stands: pending (with its attempts so far), delivered or failed."""
    label = _DELIVERY_LABELS[DeliveryStatus(delivery.status)]
    if delivery.status == DeliveryStatus.PENDING and delivery.attempts:
        return Label(f"Retrying ({count_of(delivery.attempts, 'attempt')})", label.css_class)
    return label


def can_retry(delivery: EventDelivery) -> bool:
    """A delivery that has not arrived can be made due now."""
    return delivery.status != DeliveryStatus.DELIVERED


def delivery_target(delivery: EventDelivery) -> str:
    return delivery.email if delivery.email is not None else f"endpoint {delivery.endpoint_id}"


def endpoint_label(endpoint: WebhookEndpoint) -> Label:
    if endpoint.enabled:
        return Label("Enabled", "badge-in-stock")
    return Label("Disabled", "badge-unavailable")


# -- what search engines are told ---------------------------------------------------------------


@dataclass(frozen=True)
class PageMeta:
    """A page's description, its canonical address, and whether search engines may index it.

    Pages rendered without one (cart, checkout, orders, staff, errors) are marked ``noindex``.
    """

    description: str
    canonical: str
    indexed: bool = True


SCHEMA_AVAILABILITY = {
    Availability.IN_STOCK: "https://schema.org/InStock",
    Availability.LOW_STOCK: "https://schema.org/LimitedAvailability",
    Availability.OUT_OF_STOCK: "https://schema.org/OutOfStock",
    Availability.UNAVAILABLE: "https://schema.org/OutOfStock",
    Availability.DISCONTINUED: "https://schema.org/Discontinued",
}


def catalog_meta(page: CatalogPage, query: str) -> PageMeta:
    """The catalog's page: its own canonical address; a search's results are not indexed (the catalog is)."""
    description = f"{count_of(page.total, 'product')} to order online, with prices and availability."
    if query:
        return PageMeta(description, public_url(url_for("catalog.index")), indexed=False)
    address = url_for("catalog.index", page=page.page) if page.page > 1 else url_for("catalog.index")
    return PageMeta(description, public_url(address))


def product_meta(product: Product, badge: Badge) -> PageMeta:
    description = (
        f"{product.name} ({product.sku}): {money(product.price_cents)}, {badge.label.lower()}. Order online."
    )
    return PageMeta(description, public_url(url_for("catalog.product", sku=product.sku)))


def product_structured_data(product: Product, badge: Badge) -> dict:
    """The product as schema.org ``Product`` JSON-LD: name, SKU, price and availability."""
    url = public_url(url_for("catalog.product", sku=product.sku))
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "sku": product.sku,
        "url": url,
        "offers": {
            "@type": "Offer",
            "url": url,
            "price": f"{product.price_cents / 100:.2f}",
            "priceCurrency": current_app.config["SHOP_CURRENCY"],
            "availability": SCHEMA_AVAILABILITY[badge.key],
        },
    }
