"""Payments: a provider's signed notification (or the demo provider) pays a confirmed order.

``verify_signature`` checks a notification the way Stripe signs webhooks: header
``Shop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with
``SHOP_PAYMENT_SECRET``, at most ``TOLERANCE`` seconds away, compared in constant time.

``record_payment`` is the one service both the notification endpoint and the demo
"Pay now" button call. Whatever the interleaving with the sweeper, a hold is either paid or
released: both judge the order under its row lock. A ``payment_id`` names one payment: it is
replayed only for the same order, amount and currency, and refused (``payment_id_reused``) for
anything else, like an idempotency key reused with another body.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from . import holds, orders
from .errors import PaymentRefused
from .extensions import DbSession
from .models import Order, OrderStatus, Payment, utcnow

TOLERANCE = 300  # seconds between the signature's timestamp and now
PAYMENT_ACTOR = "payments"


class Outcome(StrEnum):
    PAID = "paid"  # this notification paid the order
    REPLAYED = "replayed"  # the same notification was acted on before: nothing new
    HOLD_EXPIRED = "hold_expired"  # too late: the hold is (now) released, the provider refunds


@dataclass(frozen=True)
class PaymentNotice:
    payment_id: str
    order_number: str
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class PaymentResult:
    outcome: Outcome
    order: Order
    payment: Payment | None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | None, header: str | None, body: bytes, *, now: float | None = None
) -> str | None:
    """None if ``header`` signs ``body`` with ``secret`` within the tolerance; else why not."""
    if not secret:
        return "payment notifications are not configured (SHOP_PAYMENT_SECRET)"
    if not header:
        return "the Shop-Signature header is missing"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return "the Shop-Signature header has no valid t=<unix seconds>"
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        return f"the signature's timestamp is more than {TOLERANCE} seconds away"
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        return "the signature does not match"
    return None


def _payment(session: DbSession, payment_id: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.payment_id == payment_id))


def _replay(earlier: Payment, notice: PaymentNotice, order: Order | None) -> PaymentResult:
    """The earlier payment again if ``notice`` is the same payment; else ``payment_id_reused``."""
    same = (
        order is not None
        and earlier.order_id == order.id
        and (earlier.amount_cents, earlier.currency) == (notice.amount_cents, notice.currency)
    )
    if not same:
        raise PaymentRefused(
            "payment_id_reused",
            f"Payment {notice.payment_id} was already received for another order, amount or currency.",
        )
    return PaymentResult(Outcome.REPLAYED, earlier.order, earlier)


def record_payment(session: DbSession, notice: PaymentNotice, *, currency: str) -> PaymentResult:
    """Pay ``notice``'s order if it is a live hold (or a confirmed order) for exactly its total.

    - a ``payment_id`` that paid before: ``REPLAYED`` (nothing new) if it paid this order with this
      amount and currency, else ``PaymentRefused`` (``payment_id_reused``), nothing written;
    - the hold has expired: it is released here (commit it) and the result is ``HOLD_EXPIRED``;
      a hold released earlier gives ``HOLD_EXPIRED`` too;
    - amount or currency differs from the order's: ``PaymentRefused`` (``amount_mismatch``,
      ``currency_mismatch``), nothing written;
    - unknown order (``order_not_found``), a draft, a cancelled or an already paid order:
      ``PaymentRefused``, nothing written.

    Two notifications with one ``payment_id`` at once: the second fails on the unique index when
    the first commits; the caller runs it again, and then it is judged as a replay here.
    """
    order = orders.find_order(session, notice.order_number)
    if (earlier := _payment(session, notice.payment_id)) is not None:
        return _replay(earlier, notice, order)
    if order is None:
        raise PaymentRefused("order_not_found", f"There is no order {notice.order_number}.")
    status = orders.lock_order(session, order)
    if (earlier := _payment(session, notice.payment_id)) is not None:  # committed while we waited
        return _replay(earlier, notice, order)
    if notice.currency != currency:
        raise PaymentRefused(
            "currency_mismatch", f"Order {order.number} is paid in {currency}, not {notice.currency}."
        )
    if notice.amount_cents != order.total_cents:
        raise PaymentRefused(
            "amount_mismatch",
            f"Order {order.number} totals {order.total_cents} cents, not {notice.amount_cents}.",
        )
    hold = holds.hold_state(order)  # of the order as locked: lock_order refreshed what it reads
    if hold is holds.HoldState.RELEASED:
        return PaymentResult(Outcome.HOLD_EXPIRED, order, None)
    if status != OrderStatus.CONFIRMED:
        raise PaymentRefused("not_payable", f"Order {order.number} is {status}: it cannot be paid.")
    if hold is holds.HoldState.EXPIRED:
        holds.release_hold(session, order)
        return PaymentResult(Outcome.HOLD_EXPIRED, order, None)
    orders.move_locked_order(session, order, status, OrderStatus.PAID, actor=PAYMENT_ACTOR)
    payment = Payment(
        payment_id=notice.payment_id,
        order=order,
        amount_cents=notice.amount_cents,
        currency=notice.currency,
        outcome=Outcome.PAID,
        received_at=utcnow(),
    )
    session.add(payment)
    session.flush()
    return PaymentResult(Outcome.PAID, order, payment)
