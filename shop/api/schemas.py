"""Request and response bodies of the JSON API, as pydantic models.

Requests are validated strictly (no type coercion, unknown fields refused; the body's reader has
already turned whole numbers such as ``2.0`` into the integers they are, as JSON Schema counts
them); responses are built through the response models, so what the API sends is what the OpenAPI
document (built from the same models, see ``shop.api.openapi``) says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict

from .. import locations, products, stock
from ..errors import Problem
from ..models import EventType, MovementReason, OrderStatus, ProductStatus
from ..stock import Availability
from .problems import problem_item

# -- text that can be stored on every database --------------------------------------------

# Each rule on text is a ``pattern``: pydantic checks it and the OpenAPI document states it, so the two
# agree. Character classes are spelled out because ``\s`` differs between Python, pydantic's regex
# engine and the document's dialect (ECMA-262, whose ``\s`` has U+FEFF and not U+001C-U+001F).
CONTROL = r"\x00-\x1F\x7F-\x9F"  # Unicode category Cc (NUL breaks PostgreSQL)
CONTROL_BUT_LINE_BREAKS = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F"  # Cc but tab, line feed, return
SPACE = r"\x09-\x0D\x20\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF"  # ECMA-262 \s
NO_CONTROLS = f"^[^{CONTROL}]*$"
NOT_BLANK = f"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"  # no controls, something besides spaces
EMAIL = f"^[^@{CONTROL}{SPACE}]+@[^@{CONTROL}{SPACE}]+$"
NOTE = f"^[^{CONTROL_BUT_LINE_BREAKS}]*$"
# Lone surrogates (not encodable) are refused by pydantic itself (``string_unicode``).

CustomerName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=NOT_BLANK, examples=["Ada Lovelace"])
]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL, examples=["ada@example.com"])]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROLS, examples=["TEA-SENCHA"])]
Note = Annotated[str, Field(max_length=500, pattern=NOTE)]
# http(s)://, a host, then a path without spaces or controls (whether the shop will call it is judged after).
WEBHOOK_URL = f"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@{CONTROL}{SPACE}]+([/?#][^{CONTROL}{SPACE}]*)?$"
LocationCode = Annotated[
    str, Field(min_length=1, max_length=32, pattern=f"^{locations.CODE_PATTERN.pattern}$", examples=["main"])
]


# -- requests -------------------------------------------------------------------------------


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CustomerIn(RequestModel):
    name: CustomerName
    email: Email


class LineIn(RequestModel):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=stock.MAX_LINE_QUANTITY, examples=[2])]


class OrderCreate(RequestModel):
    """A new order. ``paid`` needs a staff token; ``draft`` takes no stock."""

    status: Literal["draft", "confirmed", "paid"] = Field(
        description="confirmed and paid take stock at once; draft takes none."
    )
    customer: CustomerIn
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=stock.MAX_LINES)]


class StatusChange(RequestModel):
    status: Literal["draft", "confirmed", "paid", "cancelled"] = Field(
        description="Allowed moves: draft → confirmed | paid | cancelled, confirmed → paid | cancelled, "
        "paid → cancelled. Re-sending the current status changes nothing."
    )


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("must not be zero")
    return value


ManualReason = Literal["restock", "adjustment"]

# A restock adds stock: the document says so with if/then; the shop's rule refuses a negative one
# (422 ``invalid_adjustment``, shop.stock's ``adjustment_problems``).
RESTOCK_ADDS: JsonDict = {
    "if": {"properties": {"reason": {"const": "restock"}}, "required": ["reason"]},
    "then": {"properties": {"delta": {"minimum": 1}}},
}


class AdjustmentCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=RESTOCK_ADDS)

    delta: Annotated[
        int,
        Field(
            ge=-stock.MAX_ADJUSTMENT,
            le=stock.MAX_ADJUSTMENT,
            json_schema_extra={"not": {"const": 0}},
            description="Change of stock on hand; negative removes stock. A restock must be positive.",
        ),
        AfterValidator(_not_zero),
    ]
    reason: ManualReason
    note: Note | None = None
    location: LocationCode | None = Field(
        default=None, description="Where the stock changes; omitted: the default location (`main`)."
    )


class TransferCreate(RequestModel):
    """Units of a product moved from one location to another (two ledger rows sharing a transfer id)."""

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=stock.MAX_ADJUSTMENT, examples=[6])]
    source: LocationCode = Field(alias="from", description="The location the units leave.")
    target: LocationCode = Field(alias="to", description="The location they go to.")
    note: Note | None = None


ProductName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=products.MAX_NAME_LENGTH,
        pattern=NOT_BLANK,
        examples=["Sencha green tea, 100 g"],
    ),
]


class ProductPut(RequestModel):
    """A product as staff set it. Omitted members take their defaults (PUT replaces them all); the
    stock is only set when this request creates the product."""

    name: ProductName
    price_cents: Annotated[int, Field(ge=0, le=products.MAX_PRICE_CENTS, examples=[1250])]
    status: Literal["active", "unavailable", "discontinued"] = Field(
        default="active", description="Unavailable and discontinued products cannot be ordered."
    )
    low_stock_threshold: Annotated[int, Field(ge=0, le=products.MAX_THRESHOLD)] = Field(
        default=products.DEFAULT_THRESHOLD, description="Low stock at or below this many units."
    )
    max_per_order: Annotated[int, Field(ge=1, le=products.MAX_PER_ORDER)] | None = Field(
        default=None, description="Units of this product one order may take; null: no limit."
    )
    initial_stock: Annotated[int, Field(ge=0, le=products.MAX_INITIAL_STOCK)] = Field(
        default=0,
        description="Units on hand when this request creates the product (one initial_stock ledger row). "
        "Ignored when the product exists: stock changes only through POST /products/{sku}/adjustments.",
    )


class PaymentNotification(RequestModel):
    """A payment provider's notification; the raw body is what ``Shop-Signature`` signs."""

    payment_id: Annotated[
        str, Field(min_length=1, max_length=100, pattern=NO_CONTROLS, examples=["pay_3MtwBwLkdIwHu7ix"])
    ]
    order_number: Annotated[str, Field(min_length=1, max_length=32, examples=["K7QM-2XPA-9RTD-F3HW"])]
    amount_cents: Annotated[int, Field(ge=1, le=10**12, examples=[2500])]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class WebhookEndpointCreate(RequestModel):
    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            pattern=WEBHOOK_URL,
            description="https:// and a host that resolves to public addresses only.",
            examples=["https://erp.example.com/hooks/shop"],
        ),
    ]
    event_types: Annotated[
        list[Literal["*", *EventType]],  # type: ignore[valid-type]
        Field(min_length=1, max_length=len(EventType) + 1, description="`*`: every type."),
    ] = ["*"]
    description: Annotated[str, Field(max_length=200, pattern=NO_CONTROLS, examples=["ERP"])] = ""


# -- responses ------------------------------------------------------------------------------


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: datetime | None) -> datetime | None: ...
def utc(value: datetime | None) -> datetime | None:
    """The database's naive UTC timestamps as aware ones (RFC 3339 with ``Z``)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Customer(ResponseModel):
    name: str
    email: str


class AllocationOut(ResponseModel):
    location: str = Field(description="The location's code.", examples=["main"])
    quantity: int


class OrderLine(ResponseModel):
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    allocations: list[AllocationOut] | None = Field(
        default=None,
        exclude_if=lambda allocations: allocations is None,  # sent only to those who may see them
        description="Where the line's units were taken (staff tokens with `read` only, once the order took "
        "stock); they add up to the line's quantity.",
    )


class Totals(ResponseModel):
    lines: int = Field(description="Number of lines.")
    quantity: int = Field(description="Units across all lines.")
    total_cents: int


class OrderOut(ResponseModel):
    number: str = Field(examples=["K7QM-2XPA-9RTD-F3HW"])
    status: OrderStatus
    customer: Customer
    lines: list[OrderLine]
    totals: Totals
    stock_committed_at: datetime | None = Field(description="When the order took stock; null if it has not.")
    hold_expires_at: datetime | None = Field(
        description="A customer's confirmed order holds its stock until then unless it is paid; null for "
        "staff orders, drafts and paid orders."
    )
    hold_expired: bool = Field(
        description="The hold has run out: the order is (or is about to be) cancelled and its stock released."
    )
    created_at: datetime
    updated_at: datetime


class LocationStock(ResponseModel):
    code: str = Field(examples=["main"])
    quantity: int


class ProductOut(ResponseModel):
    sku: str
    name: str
    price_cents: int
    status: ProductStatus
    stock: int | None = Field(
        default=None,
        description="Units on hand at the active locations that fulfil orders (what can be sold); null when "
        "none of them stocks the product. Sent to staff tokens only: anyone else sees `availability`.",
    )
    locations: list[LocationStock] | None = Field(
        default=None,
        description="The units at each location that keeps the product, in the order orders take them. Sent to "
        "staff tokens only.",
    )
    availability: Availability = Field(
        description="What a customer is told. The units of holds that expired and are not released yet count "
        "as available: the checkout releases them."
    )
    low_stock_threshold: int
    max_per_order: int | None = Field(
        description="Units of this product one order may take; null: none set (customers' orders are then "
        "held to the shop's `SHOP_DEFAULT_MAX_PER_ORDER`)."
    )


class Page(ResponseModel):
    page: int
    per_page: int
    total: int = Field(description="Items across all pages.")


class ProductPage(Page):
    items: list[ProductOut]


class MovementOut(ResponseModel):
    id: int
    created_at: datetime
    location: str = Field(description="The code of the location whose stock moved.")
    delta: int
    quantity_after: int = Field(description="The stock at that location after this row.")
    reason: MovementReason
    actor: str
    note: str | None
    order_number: str | None
    transfer_id: str | None = Field(
        description="Shared by a transfer's two rows (`transfer_out`, `transfer_in`)."
    )


class MovementPage(Page):
    items: list[MovementOut]


class AdjustmentOut(ResponseModel):
    sku: str
    location: str
    delta: int
    reason: ManualReason
    note: str | None
    actor: str
    quantity_after: int = Field(description="The stock at the location after the change.")


class TransferOut(ResponseModel):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    transfer_id: str = Field(examples=["trf_01JEXAMPLE0000000000000000"])
    sku: str
    quantity: int
    source: str = Field(serialization_alias="from", description="The location the units left.")
    target: str = Field(serialization_alias="to", description="The location they went to.")
    note: str | None
    actor: str
    from_quantity_after: int = Field(description="The stock left at `from`.")
    to_quantity_after: int = Field(description="The stock at `to` after the transfer.")


class PaymentOut(ResponseModel):
    payment_id: str
    order_number: str
    order_status: OrderStatus = Field(description="paid: the payment paid the order.")
    amount_cents: int
    currency: str
    received_at: datetime = Field(description="When the notification that paid the order arrived.")


class ProblemItem(ResponseModel):
    code: str = Field(examples=["insufficient_stock"])
    message: str
    sku: str | None
    requested: int | None
    available: int | None = Field(
        description="Units left (insufficient_stock). Without a staff token, given only when the product is "
        "at or below its low-stock threshold; null above it."
    )
    limit: int | None = Field(
        default=None,
        description="The per-order limit (over_limit), or the units one client may hold at once (hold_limit).",
    )
    pointer: str | None = Field(
        default=None,
        description="JSON Pointer to the offending part of the request body (validation errors).",
    )


class ProblemOut(ResponseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="Always about:blank: use code to tell problems apart.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Machine-readable kind of problem.", examples=["order_refused"])
    problems: list[ProblemItem] | None = Field(
        default=None, description="Every problem found, when there are several or they concern single lines."
    )


# -- validation errors as problem entries ---------------------------------------------------


def _pointer(loc: tuple[Any, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


_TYPE_ERRORS = ("_type", "_parsing", "model_attributes_type", "is_instance_of")


def validation_problems(error: ValidationError, data: Any) -> list[dict]:
    """One problem entry per pydantic error, with a JSON Pointer; quantities keep the domain's codes."""
    items = []
    for err in error.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        pointer = _pointer(loc)
        kind = err["type"]
        if kind == "missing":
            code = "missing_field"
        elif kind == "extra_forbidden":
            code = "unknown_field"
        elif kind.endswith(_TYPE_ERRORS):
            code = "invalid_type"
        else:
            code = "invalid_value"
        problem = Problem(code, f"{pointer or 'body'}: {err['msg']}")
        if len(loc) == 3 and loc[0] == "lines" and loc[2] == "quantity":
            line = data["lines"][loc[1]]
            sku = line.get("sku") if isinstance(line.get("sku"), str) else None
            domain = stock.quantity_problem(sku, line.get("quantity"))
            if domain is not None and code in ("invalid_value", "invalid_type"):
                problem = Problem(
                    domain.code, f"{pointer}: {err['msg']}", sku=sku, requested=domain.requested
                )
            elif sku is not None:
                problem = Problem(problem.code, problem.message, sku=sku)
        items.append(problem_item(problem, pointer))
    return items


# -- events: the feed, and the data each webhook carries --------------------------------------


class EventOut(ResponseModel):
    """The envelope of an event, in the feed and in every webhook body."""

    id: str = Field(pattern="^evt_[0-9A-Z]{26}$", examples=["evt_01JDQ8Z7K3M5N6P7Q8R9S0T1V2"])
    type: str = Field(
        description="One of the event types of the `webhooks` section.", examples=["order.placed"]
    )
    timestamp: datetime = Field(description="When the change it reports was committed.")
    data: dict[str, Any] = Field(description="What the `webhooks` section says for the type.")


class EventPage(ResponseModel):
    data: list[EventOut]
    has_more: bool = Field(description="Whether more events follow the last one (page on with `after`).")


class OrderEventData(ResponseModel):
    """``order.placed`` and ``order.paid``."""

    order: OrderOut


class OrderCancelledData(ResponseModel):
    order: OrderOut
    reason: Literal["order_cancelled", "hold_expired"] = Field(
        description="`hold_expired`: nobody paid the hold in time; `order_cancelled`: anything else."
    )
    cancelled_by: Literal["staff", "customer", "system"]


class StockChangedData(ResponseModel):
    sku: str
    location: str = Field(description="The code of the location whose stock moved.")
    delta: int
    quantity_after: int = Field(description="The stock at that location after the change.")
    reason: MovementReason
    order_number: str | None
    actor: str
    ledger_id: int = Field(description="The ledger row (`GET /products/{sku}/movements`).")


class StockLowData(ResponseModel):
    sku: str
    quantity: int = Field(description="The product's units at the active locations that fulfil orders.")
    threshold: int


class StockOutData(ResponseModel):
    sku: str


EVENT_DATA: dict[EventType, type[ResponseModel]] = {
    EventType.ORDER_PLACED: OrderEventData,
    EventType.ORDER_PAID: OrderEventData,
    EventType.ORDER_CANCELLED: OrderCancelledData,
    EventType.STOCK_CHANGED: StockChangedData,
    EventType.STOCK_LOW: StockLowData,
    EventType.STOCK_OUT: StockOutData,
}


class WebhookEndpointOut(ResponseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="The signing secret (`whsec_…`), shown only in this answer.")


class WebhookEndpointList(ResponseModel):
    data: list[WebhookEndpointOut]
