"""Endpoints of ``/api/v1``. Each parses its input (``inputs``), calls the services, commits once and
answers (``answers``); the queries are in ``reads``, the create-once rule of idempotency keys in
``idempotency``."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy.exc import IntegrityError

from .. import hoarding, stock
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
from ..holds import commit_checkout, hold_until
from ..models import Order, Product
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
from . import idempotency, reads
from .answers import (
    STAFF_ONLY_PRODUCT,
    adjustment_out,
    json_response,
    movement_out,
    order_out,
    payment_out,
    product_out,
    refused,
    stored_response,
    transfer_out,
)
from .auth import authenticate, insufficient_scope, is_staff_request, require_scope
from .contract import API_PREFIX, MAX_BODY_BYTES
from .inputs import clean_path_value, idempotency_key, page_args, read_json, validate
from .models import ORDERS_WRITE, READ, STOCK_WRITE
from .openapi import build_document
from .problems import ApiError, init_blueprint, problem_item
from .schemas import (
    AdjustmentCreate,
    MovementPage,
    OrderCreate,
    OrderOut,
    PaymentNotification,
    ProductOut,
    ProductPage,
    ProductPut,
    StatusChange,
    TransferCreate,
)

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
init_blueprint(bp)

# Shares its count per address with the web checkout; a staff token is not limited, and a bad token
# gets its 401 before anything is counted.
limit_api_checkout = limit_checkout_unless(is_staff_request)


@bp.before_request
def limit_body_size():
    """API bodies are smaller than the web's: refuse a larger one (413) before reading it."""
    request.max_content_length = current_app.config.get("API_MAX_CONTENT_LENGTH", MAX_BODY_BYTES)


# Orders hold the customer's name and e-mail address: no cache may keep an answer about one.
ORDER_ENDPOINTS = {"api.create_order", "api.get_order", "api.set_order_status"}


@bp.after_request
def no_store_orders(response: Response) -> Response:
    """Answers about an order carry personal data: ``Cache-Control: no-store``."""
    if request.endpoint in ORDER_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


# -- lookups --------------------------------------------------------------------------------


def _find_order(number: str) -> Order:
    """The order with this number, or a 404 problem."""
    order = find_order(db.session, number)
    if order is None:
        raise ApiError(404, f"There is no order {number.strip().upper()}.", code="order_not_found")
    return order


def _find_product(sku: str) -> Product:
    """The product with exactly this SKU, its stock loaded, or a 404 problem."""
    if clean_path_value(sku, 64) and (product := find_product(db.session, sku)) is not None:
        return product
    raise ApiError(404, f"There is no product {sku}.", code="product_not_found")


# -- orders ---------------------------------------------------------------------------------


@bp.post("/orders")
@limit_api_checkout
def create_order():
    caller = authenticate()
    if caller.is_staff and not caller.may(ORDERS_WRITE):  # a token's orders are staff orders: no hold
        raise insufficient_scope(ORDERS_WRITE)
    key = idempotency_key()
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
    fingerprint = idempotency.fingerprint(f"POST {bp.url_prefix}/orders", data)

    lines = [(line.sku, line.quantity) for line in body.lines]
    # A customer's confirmed order is a hold, held to the customers' limits; a staff token's is neither.
    # Both are worked out once: a retried unit of work places the same hold.
    customer = None if caller.client is None else (hoarding.for_customer(caller.client), hold_until())

    def place() -> Order:
        if customer is None:
            return place_order(
                db.session,
                lines,
                status=body.status,
                customer_name=body.customer.name,
                customer_email=body.customer.email,
            )
        limits, hold = customer
        return hoarding.place_customer_order(
            db.session,
            lines,
            limits=limits,
            status=body.status,
            customer_name=body.customer.name,
            customer_email=body.customer.email,
            hold_until=hold,
        )

    def work() -> idempotency.Stored:
        order = place()
        # The answer is built from the order as just written (every timestamp keeps its microseconds
        # on all three databases) and stored with it: the client gets exactly these bytes. The key
        # goes in last, in the same transaction: a request that reuses it fails on the unique index
        # (after waiting for this transaction if it is still open), rolls back everything it did
        # and is answered from the stored row (idempotency.create_once).
        stored = idempotency.Stored(fingerprint, 201, order_out(order).model_dump_json(), order.number)
        idempotency.store(
            caller=caller.key_owner,
            key=key,
            request_hash=fingerprint,
            order_id=order.id,
            status=stored.status,
            body=stored.body,
        )
        return stored

    try:
        stored, replayed = idempotency.create_once(
            lambda: commit_checkout(work, actor=caller.actor),
            owner=caller.key_owner,
            key=key,
            request_hash=fingerprint,
        )
    except InventoryError as exc:
        raise refused(
            exc, 409, "order_refused", "The order was refused", strangers=not caller.is_staff
        ) from None
    return stored_response(stored, replayed=replayed)


@bp.get("/orders/<number>")
def get_order(number: str):
    """The order; staff tokens with ``read`` also see where each line's units were taken."""
    caller = authenticate()
    order = _find_order(number)
    return json_response(order_out(order, reads.order_allocations(order) if caller.may(READ) else None))


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
        raise refused(exc, 409, "invalid_transition", "The status change was refused") from None
    except InventoryError as exc:
        raise refused(exc, 409, "order_refused", "The status change was refused") from None
    return json_response(out)


# -- products -------------------------------------------------------------------------------


@bp.get("/products")
def list_products():
    caller = authenticate()
    page, per_page = page_args()
    total, products = reads.product_page(page, per_page)
    return json_response(
        ProductPage(page=page, per_page=per_page, total=total, items=[product_out(p) for p in products]),
        # Strangers (and tokens without the read scope) see availability, not the stock nor where it is.
        exclude=None if caller.may(READ) else {"items": {"__all__": STAFF_ONLY_PRODUCT}},
    )


@bp.get("/products/<sku>")
def get_product(sku: str):
    caller = authenticate()
    return json_response(
        product_out(_find_product(sku)), exclude=None if caller.may(READ) else STAFF_ONLY_PRODUCT
    )


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
        except (IntegrityError, InvalidProduct) as exc:
            # Created by another request at the same moment (its INSERT won, or it committed between our
            # lookup and our duplicate check): update that one. Anything else is the body's fault.
            if isinstance(exc, InvalidProduct) and {p.code for p in exc.problems} != {"duplicate_sku"}:
                raise
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
        product = _find_product(sku)
        return stock.adjust_stock(
            db.session, product, body.delta, body.reason, body.note, location=body.location
        )

    try:
        change = commit_unit_of_work(work, actor=caller.actor)
    except InvalidStockChange as exc:
        raise refused(exc, 422, "invalid_adjustment", "The stock change is not valid") from None
    except InventoryError as exc:
        raise refused(exc, 409, "adjustment_refused", "The stock change was refused") from None
    return json_response(
        adjustment_out(change), 201, {"Location": url_for("api.list_movements", sku=change.sku)}
    )


@bp.get("/products/<sku>/movements")
def list_movements(sku: str):
    require_scope(READ)
    page, per_page = page_args()
    total, rows = reads.movement_page(_find_product(sku).id, page, per_page)
    items = [movement_out(movement, number, location) for movement, number, location in rows]
    return json_response(MovementPage(page=page, per_page=per_page, total=total, items=items))


@bp.post("/transfers")
def create_transfer():
    """Move units of a product between two locations: 201, or 422 listing every problem (unknown, short)."""
    caller = require_scope(STOCK_WRITE)
    body = validate(TransferCreate, read_json())

    def work() -> stock.Transfer:
        product = find_product(db.session, body.sku)
        if product is None:
            unknown = Problem("unknown_product", f"There is no product {body.sku}.", sku=body.sku)
            problems = stock.transfer_request_problems(
                db.session, body.sku, body.quantity, body.source, body.target
            )
            raise InvalidStockChange([unknown, *problems])
        return stock.transfer_stock(db.session, product, body.quantity, body.source, body.target, body.note)

    try:
        transfer = commit_unit_of_work(work, actor=caller.actor)
    except InventoryError as exc:
        raise refused(exc, 422, "transfer_refused", "The transfer was refused") from None
    return json_response(
        transfer_out(transfer), 201, {"Location": url_for("api.list_movements", sku=transfer.taken.sku)}
    )


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
        raise refused(exc, status, exc.code, "The payment was refused") from None
    if result.outcome is Outcome.HOLD_EXPIRED:
        raise ApiError(
            409,
            f"The hold on order {result.order.number} expired before it was paid; its stock was released. "
            "Refund the payment.",
            code="hold_expired",
        )
    return json_response(
        payment_out(result), headers={"Idempotent-Replayed": str(result.outcome is Outcome.REPLAYED).lower()}
    )
