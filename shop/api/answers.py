"""What the API answers: rows as response models, JSON responses, refusals as problems.

Every answer is built through a response model of ``shop.api.schemas``, so that what is sent is
what the OpenAPI document says.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Response, url_for
from pydantic import BaseModel

from .. import stock
from ..errors import InventoryError
from ..holds import hold_state, units_on_offer
from ..models import InventoryMovement, MovementReason, Order, OrderStatus, Product, ProductStatus
from ..payments import PaymentResult
from .idempotency import Stored
from .problems import ApiError, problem_item
from .schemas import (
    AdjustmentOut,
    AllocationOut,
    Customer,
    LocationStock,
    ManualReason,
    MovementOut,
    OrderLine,
    OrderOut,
    PaymentOut,
    ProductOut,
    Totals,
    TransferOut,
    utc,
)

# What strangers (and tokens without ``read``) are not sent: exact stock, and where it is.
STAFF_ONLY_PRODUCT: set[str] = {"stock", "locations"}


def json_response(
    model: BaseModel | str, status: int = 200, headers: dict | None = None, *, exclude: Any = None
) -> Response:
    """``model`` (or JSON already serialized) as an ``application/json`` response."""
    body = model if isinstance(model, str) else model.model_dump_json(exclude=exclude)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def refused(exc: InventoryError, status: int, code: str, what: str, *, strangers: bool = False) -> ApiError:
    """A refusal of the shop as a problem, with one entry per problem it found.

    ``strangers``: told as a customer is (``stock.for_strangers``): no exact count above low stock.
    """
    found = [stock.for_strangers(p) for p in exc.problems] if strangers else exc.problems
    return ApiError(
        status,
        f"{what}: {' '.join(p.message for p in found)}",
        code=code,
        problems=[problem_item(p) for p in found],
    )


def order_out(order: Order, allocations: dict[int, list[AllocationOut]] | None = None) -> OrderOut:
    """An order with its lines, totals and hold, as the API shows it; with ``allocations`` (staff: by order
    line id, ``reads.order_allocations``) each line says where its units were taken."""
    lines = [
        OrderLine(
            sku=item.product.sku,
            name=item.product.name,
            quantity=item.quantity,
            unit_price_cents=item.unit_price_cents,
            line_total_cents=item.line_total_cents,
            allocations=None if allocations is None else allocations.get(item.id, []),
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


def order_json(order: Order) -> str:
    """The order as JSON: what the order events of the outbox carry."""
    return order_out(order).model_dump_json()


def product_out(product: Product) -> ProductOut:
    """A product with its stock, where it is and its availability (the view leaves ``STAFF_ONLY_PRODUCT``
    out for strangers).

    ``stock`` is what is on hand at the locations that fulfil orders; ``availability`` is what a
    customer is told, the units that expired holds keep counted as available
    (``holds.units_on_offer``: the checkout releases them).
    """
    places = sorted(product.stocks, key=lambda row: (row.location.priority, row.location.code))
    return ProductOut(
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        status=ProductStatus(product.status),
        stock=product.on_hand,
        locations=[LocationStock(code=row.location.code, quantity=row.quantity) for row in places],
        availability=stock.availability(product.status, units_on_offer(product), product.low_stock_threshold),
        low_stock_threshold=product.low_stock_threshold,
        max_per_order=product.max_per_order,
    )


def movement_out(movement: InventoryMovement, order_number: str | None, location: str) -> MovementOut:
    """One ledger row, with its location's code and the number of the order that moved the stock, if any."""
    return MovementOut(
        id=movement.id,
        created_at=utc(movement.created_at),
        location=location,
        delta=movement.delta,
        quantity_after=movement.quantity_after,
        reason=MovementReason(movement.reason),
        actor=movement.actor,
        note=movement.note,
        order_number=order_number,
        transfer_id=movement.transfer_id,
    )


def adjustment_out(change: stock.StockChange) -> AdjustmentOut:
    """A stock adjustment as applied."""
    return AdjustmentOut(
        sku=change.sku,
        location=change.location,
        delta=change.delta,
        reason=cast(ManualReason, change.reason),  # adjust_stock takes only restock and adjustment
        note=change.note,
        actor=change.actor,
        quantity_after=change.quantity_after,
    )


def transfer_out(transfer: stock.Transfer) -> TransferOut:
    """A transfer as written: both locations and what each has after it."""
    taken, given = transfer.taken, transfer.given
    return TransferOut(
        transfer_id=transfer.transfer_id,
        sku=taken.sku,
        quantity=given.delta,
        source=taken.location,
        target=given.location,
        note=taken.note,
        actor=taken.actor,
        from_quantity_after=taken.quantity_after,
        to_quantity_after=given.quantity_after,
    )


def payment_out(result: PaymentResult) -> PaymentOut:
    """The payment that paid the order (this notification or the earlier one it replays)."""
    payment = result.payment
    assert payment is not None
    return PaymentOut(
        payment_id=payment.payment_id,
        order_number=result.order.number,
        order_status=OrderStatus.PAID,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        received_at=utc(payment.received_at),
    )


def stored_response(stored: Stored, *, replayed: bool) -> Response:
    """The response an idempotency key holds, exactly as first sent, saying whether it is a replay."""
    headers = {"Idempotent-Replayed": "true" if replayed else "false"}
    if stored.number:
        headers["Location"] = url_for("api.get_order", number=stored.number)
    return json_response(stored.body, stored.status, headers)
