"""Endpoints of ``/api/v1``. Each parses and validates its input, calls the services, commits once."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from flask import Blueprint, Response, current_app, request, url_for
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import stock
from ..database import commit_unit_of_work
from ..errors import (
    InvalidProduct,
    InvalidStatusTransition,
    InvalidStockChange,
    InventoryError,
    PaymentRefused,
    Problem,
)
from ..extensions import db
from ..holds import commit_checkout, hold_state, hold_until
from ..models import InventoryMovement, MovementReason, Order, OrderStatus, Product, ProductStatus
from ..orders import change_status, customer_problems, find_order, place_order
from ..payments import PAYMENT_ACTOR, Outcome, PaymentNotice, PaymentResult, record_payment, verify_signature
from ..products import (
    FIELD_OF_CODE,
    ProductDetails,
    create_product,
    find_product,
    sku_problem,
    update_product,
)
from ..rate_limits import limit_checkout_unless
from . import idempotency
from .auth import Caller, authenticate, insufficient_scope, is_staff_request, require_scope
from .contract import API_PREFIX, DEFAULT_PER_PAGE, MAX_BODY_BYTES, MAX_PAGE, MAX_PER_PAGE
from .models import ORDERS_WRITE, READ, STOCK_WRITE, IdempotencyKey
from .openapi import build_document
from .problems import ApiError, init_blueprint, problem_item
from .schemas import (
    AdjustmentCreate,
    AdjustmentOut,
    Customer,
    MovementOut,
    MovementPage,
    OrderCreate,
    OrderLine,
    OrderOut,
    PaymentNotification,
    PaymentOut,
    ProductOut,
    ProductPage,
    ProductPut,
    StatusChange,
    Totals,
    utc,
    validation_problems,
)

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
init_blueprint(bp)

M = TypeVar("M", bound=BaseModel)

# Shares its count per address with the web checkout; a staff token is not limited, and a bad token
# gets its 401 before anything is counted.
limit_api_checkout = limit_checkout_unless(is_staff_request)

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as in the OpenAPI document


@bp.before_request
def limit_body_size():
    request.max_content_length = current_app.config.get("API_MAX_CONTENT_LENGTH", MAX_BODY_BYTES)


# Orders hold the customer's name and e-mail address: no cache may keep an answer about one.
ORDER_ENDPOINTS = {"api.create_order", "api.get_order", "api.set_order_status"}


@bp.after_request
def no_store_orders(response: Response) -> Response:
    if request.endpoint in ORDER_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


# -- input ----------------------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


MAX_WHOLE_DIGITS = 18  # past every maximum the API takes: larger numbers stay floats and are refused


def _number(text: str) -> int | float:
    """A JSON number with a fraction or an exponent: the integer it is if whole (JSON Schema counts
    ``2.0`` as an integer), exactly (``Decimal``, not a rounded float)."""
    value = Decimal(text)
    if value.adjusted() < MAX_WHOLE_DIGITS and value == value.to_integral_value():
        return int(value)
    return float(text)


def read_json() -> Any:
    """The request body as JSON, whole numbers as integers: 415 unless JSON, 413 if too large, 400 if malformed."""
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=True)  # raises 413 past the limit
    if not raw.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.", code="malformed_json")
    try:
        return json.loads(raw, parse_float=_number, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(400, f"The request body is not valid JSON: {reason}.", code="malformed_json") from None


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, data)
        raise ApiError(
            422,
            f"The request body is not valid: {len(problems)} problem(s).",
            code="invalid_request",
            problems=problems,
        ) from None


def page_args() -> tuple[int, int]:
    def number(name: str, default: int, maximum: int) -> int:
        value = request.args.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= maximum:
            raise ApiError(
                400, f"{name} must be a whole number from 1 to {maximum}.", code="invalid_parameter"
            )
        return int(value)

    return number("page", 1, MAX_PAGE), number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)


def _clean_path_value(value: str, max_length: int) -> bool:
    return 0 < len(value) <= max_length and not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


def json_response(
    model: BaseModel | str, status: int = 200, headers: dict | None = None, *, exclude: Any = None
) -> Response:
    body = model if isinstance(model, str) else model.model_dump_json(exclude=exclude)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _refused(exc: InventoryError, status: int, code: str, what: str) -> ApiError:
    problems = [problem_item(p) for p in exc.problems]
    return ApiError(
        status, f"{what}: {' '.join(p.message for p in exc.problems)}", code=code, problems=problems
    )


# -- lookups --------------------------------------------------------------------------------


def _find_order(number: str) -> Order:
    order = find_order(db.session, number)
    if order is None:
        raise ApiError(404, f"There is no order {number.strip().upper()}.", code="order_not_found")
    return order


def _find_product(sku: str) -> Product:
    if _clean_path_value(sku, 64) and (product := find_product(db.session, sku)) is not None:
        return product
    raise ApiError(404, f"There is no product {sku}.", code="product_not_found")


# -- representations ------------------------------------------------------------------------


def order_out(order: Order) -> OrderOut:
    lines = [
        OrderLine(
            sku=item.product.sku,
            name=item.product.name,
            quantity=item.quantity,
            unit_price_cents=item.unit_price_cents,
            line_total_cents=item.line_total_cents,
        )
        for item in order.items
    ]
    return OrderOut(
        number=order.number,
        status=OrderStatus(order.status),
        customer=Customer(name=order.customer_name, email=order.customer_email),
        lines=lines,
        totals=Totals(
            lines=len(lines),
            quantity=sum(line.quantity for line in lines),
            total_cents=sum(line.line_total_cents for line in lines),
        ),
        stock_committed_at=utc(order.stock_committed_at),
        hold_expires_at=utc(order.hold_expires_at),
        hold_expired=hold_state(order).ran_out,
        created_at=utc(order.created_at),
        updated_at=utc(order.updated_at),
    )


def product_out(product: Product) -> ProductOut:
    on_hand = product.inventory.quantity if product.inventory else None
    return ProductOut(
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        status=ProductStatus(product.status),
        stock=on_hand,
        availability=stock.availability(product.status, on_hand, product.low_stock_threshold),
        low_stock_threshold=product.low_stock_threshold,
        max_per_order=product.max_per_order,
    )


# -- orders ---------------------------------------------------------------------------------


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError(
            400,
            "Creating an order needs an Idempotency-Key header (a unique value per order, "
            "reused when retrying).",
            code="missing_idempotency_key",
        )
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400,
            "The Idempotency-Key must be 1 to 255 visible ASCII characters.",
            code="invalid_idempotency_key",
        )
    return key


def request_fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"POST {bp.url_prefix}/orders\n{canonical}".encode()).hexdigest()


class Stored(NamedTuple):
    """What an idempotency row holds, read while its transaction is open (nothing to reload later)."""

    request_hash: str
    status: int
    body: str
    number: str | None  # of the order in ``body``

    @classmethod
    def of(cls, record: IdempotencyKey) -> Stored:
        assert record.response_status is not None and record.response_body is not None
        number = json.loads(record.response_body).get("number")
        return cls(record.request_hash, record.response_status, record.response_body, number)


def _stored_response(stored: Stored, fingerprint: str, *, replayed: bool) -> Response:
    if stored.request_hash != fingerprint:
        raise ApiError(
            409,
            "This Idempotency-Key was already used with a different request body; use a new "
            "key for a new order.",
            code="idempotency_key_reused",
        )
    headers = {"Idempotent-Replayed": "true" if replayed else "false"}
    if stored.number:
        headers["Location"] = url_for("api.get_order", number=stored.number)
    return json_response(stored.body, stored.status, headers)


def _find_key(caller: Caller, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.caller == caller.key_owner, IdempotencyKey.key == key)
    )


@bp.post("/orders")
@limit_api_checkout
def create_order():
    caller = authenticate()
    if caller.is_staff and not caller.may(ORDERS_WRITE):  # a token's orders are staff orders: no hold
        raise insufficient_scope(ORDERS_WRITE)
    key = _idempotency_key()
    data = read_json()
    body = validate(OrderCreate, data)
    if body.status == "paid" and not caller.is_staff:
        raise ApiError(
            403, "Only staff can create an order as paid; create it as confirmed.", code="forbidden"
        )
    problems = customer_problems(body.customer.name, body.customer.email)
    if problems:
        raise ApiError(
            422,
            "The customer details are not valid.",
            code="invalid_request",
            problems=[problem_item(p, "/customer") for p in problems],
        )
    fingerprint = request_fingerprint(data)

    hold = None if caller.is_staff else hold_until()  # a customer's confirmed order is a hold

    def work() -> Stored:
        order = place_order(
            db.session,
            [(line.sku, line.quantity) for line in body.lines],
            status=body.status,
            customer_name=body.customer.name,
            customer_email=body.customer.email,
            hold_until=hold,
        )
        # The answer is built from the order as just written (every timestamp keeps its microseconds
        # on all three databases) and stored with it: the client gets exactly these bytes. The key
        # goes in last, in the same transaction: a request that reuses it fails on the unique index
        # (after waiting for this transaction if it is still open), rolls back everything it did
        # and is answered from the stored row below.
        stored = Stored(fingerprint, 201, order_out(order).model_dump_json(), order.number)
        idempotency.store(
            caller=caller.key_owner,
            key=key,
            request_hash=fingerprint,
            order_id=order.id,
            status=stored.status,
            body=stored.body,
        )
        return stored

    replayed = False
    for attempt in (1, 2):
        try:
            stored = commit_checkout(work, actor=caller.actor)
        except (InventoryError, IntegrityError) as exc:
            # The session was rolled back: this reads what an earlier request of this caller committed.
            record = _find_key(caller, key)
            if record is None:
                if isinstance(exc, InventoryError):
                    raise _refused(exc, 409, "order_refused", "The order was refused") from None
                raise
            if attempt == 1 and idempotency.is_expired(record):
                idempotency.forget(record.id)  # older than 24 hours: as if never used; try again
                continue
            stored, replayed = Stored.of(record), True
        else:
            idempotency.purge_now_and_then()  # a new key was stored: now and then, forget old ones
        break
    return _stored_response(stored, fingerprint, replayed=replayed)


@bp.get("/orders/<number>")
def get_order(number: str):
    authenticate()
    return json_response(order_out(_find_order(number)))


@bp.post("/orders/<number>/status")
def set_order_status(number: str):
    caller = require_scope(ORDERS_WRITE)
    body = validate(StatusChange, read_json())

    def work() -> OrderOut:
        order = _find_order(number)
        change_status(db.session, order, body.status, actor=caller.actor)
        return order_out(order)

    try:
        out = commit_unit_of_work(work, actor=caller.actor)
    except InvalidStatusTransition as exc:
        raise _refused(exc, 409, "invalid_transition", "The status change was refused") from None
    except InventoryError as exc:
        raise _refused(exc, 409, "order_refused", "The status change was refused") from None
    return json_response(out)


# -- products -------------------------------------------------------------------------------


@bp.get("/products")
def list_products():
    caller = authenticate()
    page, per_page = page_args()
    total = db.session.scalar(select(func.count()).select_from(Product)) or 0
    products = db.session.scalars(
        select(Product)
        .options(selectinload(Product.inventory))
        .order_by(Product.sku)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return json_response(
        ProductPage(page=page, per_page=per_page, total=total, items=[product_out(p) for p in products]),
        # Strangers (and tokens without the read scope) see availability, not the stock.
        exclude=None if caller.may(READ) else {"items": {"__all__": {"stock"}}},
    )


@bp.get("/products/<sku>")
def get_product(sku: str):
    caller = authenticate()
    return json_response(product_out(_find_product(sku)), exclude=None if caller.may(READ) else {"stock"})


def _body_pointer(problem: Problem) -> str | None:
    """The member of a ``ProductPut`` body a product problem is about (none for the SKU: it is in the path)."""
    field = FIELD_OF_CODE.get(problem.code)
    return f"/{field}" if field and field != "sku" else None


@bp.put("/products/<sku>")
def put_product(sku: str):
    """Create the product ``sku`` (201, with its initial stock) or replace its details (200), never its stock.

    Needs a staff token with the ``stock:write`` scope. Safe to repeat: the
    same body again answers 200 with the same product. Two PUTs that create one SKU at once both
    succeed; the second updates what the first created.
    """
    caller = require_scope(STOCK_WRITE)
    body = validate(ProductPut, read_json())
    details = ProductDetails(
        name=body.name,
        price_cents=body.price_cents,
        low_stock_threshold=body.low_stock_threshold,
        max_per_order=body.max_per_order,
        status=body.status,
    )

    def create_or_update() -> tuple[ProductOut, bool]:
        # A SKU that breaks the rules is refused as a new one would be (invalid_sku, with every other
        # problem), even if a product has it (written with plain SQL): the document gives it the pattern.
        product = find_product(db.session, sku) if sku_problem(sku) is None else None
        if product is None:
            product = create_product(db.session, sku, details, body.initial_stock)
            return product_out(product), True
        update_product(db.session, product, details)
        return product_out(product), False

    try:
        try:
            out, created = commit_unit_of_work(create_or_update, actor=caller.actor)
        except IntegrityError:  # created by another request at the same moment: update that one
            out, created = commit_unit_of_work(create_or_update, actor=caller.actor)
    except InvalidProduct as exc:
        raise ApiError(
            422,
            f"The product is not valid: {' '.join(p.message for p in exc.problems)}",
            code="invalid_product",
            problems=[problem_item(p, _body_pointer(p)) for p in exc.problems],
        ) from None
    if created:
        return json_response(out, 201, {"Location": url_for("api.get_product", sku=sku)})
    return json_response(out)


@bp.post("/products/<sku>/adjustments")
def adjust_product_stock(sku: str):
    caller = require_scope(STOCK_WRITE)
    body = validate(AdjustmentCreate, read_json())

    def work():
        return stock.adjust_stock(db.session, _find_product(sku), body.delta, body.reason, body.note)

    try:
        change = commit_unit_of_work(work, actor=caller.actor)
    except InvalidStockChange as exc:
        raise _refused(exc, 422, "invalid_adjustment", "The stock change is not valid") from None
    except InventoryError as exc:
        raise _refused(exc, 409, "adjustment_refused", "The stock change was refused") from None
    out = AdjustmentOut(
        sku=change.sku,
        delta=change.delta,
        reason=change.reason,
        note=change.note,
        actor=change.actor,
        quantity_after=change.quantity_after,
    )
    return json_response(out, 201, {"Location": url_for("api.list_movements", sku=change.sku)})


@bp.get("/products/<sku>/movements")
def list_movements(sku: str):
    require_scope(READ)
    page, per_page = page_args()
    product = _find_product(sku)
    where = InventoryMovement.product_id == product.id
    total = db.session.scalar(select(func.count()).select_from(InventoryMovement).where(where)) or 0
    rows = db.session.execute(
        select(InventoryMovement, Order.number)
        .outerjoin(Order, Order.id == InventoryMovement.order_id)
        .where(where)
        .order_by(InventoryMovement.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [
        MovementOut(
            id=m.id,
            created_at=utc(m.created_at),
            delta=m.delta,
            quantity_after=m.quantity_after,
            reason=MovementReason(m.reason),
            actor=m.actor,
            note=m.note,
            order_number=number,
        )
        for m, number in rows
    ]
    return json_response(MovementPage(page=page, per_page=per_page, total=total, items=items))


# -- the document ---------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi_document():
    doc = current_app.extensions.get("shop.api.openapi")
    if doc is None:
        doc = current_app.extensions["shop.api.openapi"] = json.dumps(build_document())
    return Response(doc, mimetype="application/json")


# -- payments -------------------------------------------------------------------------------

REFUSED_PAYMENT_STATUS = {"order_not_found": 404, "amount_mismatch": 422, "currency_mismatch": 422}


@bp.post("/payments")
def receive_payment():
    """A provider's signed payment notification (docs/api.md, "Payments")."""
    raw = request.get_data(cache=True)
    config = current_app.config
    unsigned = verify_signature(config["SHOP_PAYMENT_SECRET"], request.headers.get("Shop-Signature"), raw)
    if unsigned:
        raise ApiError(401, f"The notification is not signed: {unsigned}.", code="invalid_signature")
    body = validate(PaymentNotification, read_json())
    notice = PaymentNotice(body.payment_id, body.order_number, body.amount_cents, body.currency)

    def work() -> PaymentResult:
        return record_payment(db.session, notice, currency=config["SHOP_CURRENCY"])

    try:
        try:
            result = commit_unit_of_work(work, actor=PAYMENT_ACTOR)
        except IntegrityError:  # the payment_id was stored at the same moment: judge it again, as a replay
            result = commit_unit_of_work(work, actor=PAYMENT_ACTOR)
    except PaymentRefused as exc:
        status = REFUSED_PAYMENT_STATUS.get(exc.code, 409)
        raise _refused(exc, status, exc.code, "The payment was refused") from None
    if result.outcome is Outcome.HOLD_EXPIRED:
        raise ApiError(
            409,
            f"The hold on order {result.order.number} expired before it was paid; its stock was released. "
            "Refund the payment.",
            code="hold_expired",
        )
    payment = result.payment
    assert payment is not None
    out = PaymentOut(
        payment_id=payment.payment_id,
        order_number=result.order.number,
        order_status=OrderStatus.PAID,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        received_at=utc(payment.received_at),
    )
    return json_response(
        out, headers={"Idempotent-Replayed": str(result.outcome is Outcome.REPLAYED).lower()}
    )
