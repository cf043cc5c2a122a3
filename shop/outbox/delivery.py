"""Deliveries: claimed with a lease, sent outside any transaction, retried with backoff for 3 days.

``claim`` takes due deliveries in a short transaction (``SKIP LOCKED`` on PostgreSQL and MariaDB,
so several workers never take the same one) and moves their ``next_attempt_at`` past a lease: a
worker that dies mid-delivery leaves them due again once the lease ends (at least once). ``attempt``
sends one (a signed webhook, or an e-mail) with no transaction open, and ``settle`` writes what
happened: delivered; retried after about 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, then every 12 h, with
jitter; or failed, 3 days after the event. A 410 disables the endpoint; an endpoint whose
deliveries have all failed for 3 days is disabled too, and staff are told by e-mail.
"""

from __future__ import annotations

import json
import random
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, or_, select, update
from urllib3.exceptions import HTTPError

from ..extensions import DbSession
from ..models import utcnow
from . import mail, webhooks
from .models import DeliveryStatus, Event, EventDelivery, WebhookEndpoint
from .recorder import envelope, new_event_id
from .types import PING, EventType

BACKOFF = [timedelta(seconds=s) for s in (30, 120, 600, 3600, 3 * 3600, 6 * 3600)]
LATER = timedelta(hours=12)  # after the schedule above
GIVE_UP_AFTER = timedelta(days=3)
JITTER = 0.2  # a delay is made up to 20% shorter or longer, so that retries do not come in waves


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    delay = BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else LATER
    return delay * (1 + (rng or random).uniform(-JITTER, JITTER))


def lease() -> timedelta:
    """How long a claimed delivery is a worker's: long enough for its attempt to time out twice."""
    return timedelta(seconds=2 * current_app.config["SHOP_WEBHOOK_TIMEOUT"] + 5)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds until ``lease_until``: its event and its target, read at the claim."""

    id: int
    attempts: int  # including this one
    lease_until: datetime
    event_id: str
    event_type: str
    event_created_at: datetime
    payload: str
    endpoint_id: int | None
    url: str | None
    secret: str | None
    email: str | None

    @property
    def body(self) -> str:
        return envelope(self.event_id, self.event_type, self.event_created_at, self.payload)


def claim(session: DbSession, *, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` due deliveries (of enabled endpoints, or e-mails) for a lease; commit after."""
    now = now or utcnow()
    enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
    ids = list(
        session.scalars(
            select(EventDelivery.id)
            .where(
                EventDelivery.status == DeliveryStatus.PENDING,
                EventDelivery.next_attempt_at <= now,
                or_(EventDelivery.endpoint_id.is_(None), EventDelivery.endpoint_id.in_(enabled)),
            )
            .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    lease_until = now + lease()
    session.execute(
        update(EventDelivery)
        .where(EventDelivery.id.in_(ids))
        .values(next_attempt_at=lease_until, attempts=EventDelivery.attempts + 1, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            EventDelivery.id,
            EventDelivery.attempts,
            Event.id,
            Event.type,
            Event.created_at,
            Event.payload,
            EventDelivery.endpoint_id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            EventDelivery.email,
        )
        .join(Event, Event.id == EventDelivery.event_id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == EventDelivery.endpoint_id)
        .where(EventDelivery.id.in_(ids))
        .order_by(EventDelivery.next_attempt_at, EventDelivery.id)
    ).all()
    return [
        Claimed(
            id_,
            attempts,
            lease_until,
            event_id,
            event_type,
            created_at,
            payload,
            endpoint_id,
            url,
            secret,
            email,
        )
        for id_, attempts, event_id, event_type, created_at, payload, endpoint_id, url, secret, email in rows
    ]


# -- one attempt -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None  # an HTTP answer's status
    answer: str = ""  # the answer's first characters, or the error
    gone: bool = False  # 410: the endpoint does not want webhooks any more


def attempt(delivery: Claimed) -> Outcome:
    """Send one delivery now (no transaction is open): a signed webhook, or an e-mail."""
    if delivery.email is not None:
        return _send_email(delivery)
    assert delivery.url is not None and delivery.secret is not None
    config = current_app.config
    body = delivery.body
    try:
        answer = webhooks.post(
            delivery.url,
            body,
            webhooks.signed_headers(delivery.secret, delivery.event_id, body),
            timeout=config["SHOP_WEBHOOK_TIMEOUT"],
            allow_private=config["SHOP_WEBHOOKS_ALLOW_PRIVATE"],
        )
    except webhooks.UnsafeDestination as exc:
        return Outcome(False, answer=f"not sent: {exc}")
    except HTTPError as exc:
        return Outcome(False, answer=f"no answer: {type(exc).__name__}: {exc}"[: webhooks.ANSWER_LENGTH])
    return Outcome(answer.delivered, answer.status, answer.text, gone=answer.status == 410)


CUSTOMER_MAIL = {
    EventType.ORDER_PLACED: ("order_placed", "Your order {number}"),
    EventType.ORDER_PAID: ("order_paid", "Payment received for order {number}"),
    EventType.ORDER_CANCELLED: ("order_cancelled", "Order {number} is cancelled"),
}


def customer_message(event_type: str, data: dict[str, Any], email: str):
    """The e-mail a customer gets for an order event."""
    template, subject = CUSTOMER_MAIL[EventType(event_type)]
    order = data["order"]
    if data.get("reason") == "hold_expired":
        subject = "Your hold on order {number} ran out"
    return mail.message(
        template,
        [email],
        subject.format(number=order["number"]),
        order=order,
        reason=data.get("reason"),
        order_url=mail.public_url(f"/orders/{order['number']}"),
    )


def _send_email(delivery: Claimed) -> Outcome:
    assert delivery.email is not None
    try:
        mail.send(customer_message(delivery.event_type, json.loads(delivery.payload), delivery.email))
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, answer=f"not sent: {type(exc).__name__}: {exc}"[: webhooks.ANSWER_LENGTH])
    return Outcome(True, answer="sent")


# -- what happened -----------------------------------------------------------------------------


# Statements built once, executed on the session's connection: a settle costs two statements and
# no ORM work, a fraction of what building them for every delivery cost.
_SETTLE = (
    update(EventDelivery)
    .where(
        EventDelivery.id == bindparam("delivery_id"),
        EventDelivery.status == DeliveryStatus.PENDING,
        EventDelivery.next_attempt_at == bindparam("lease_until"),  # still this worker's
    )
    .values(
        status=bindparam("new_status"),
        next_attempt_at=bindparam("due"),
        delivered_at=bindparam("at"),
        last_status=bindparam("answer_status"),
        last_answer=bindparam("answer"),
    )
)
_STREAK = select(WebhookEndpoint.failing_since).where(
    WebhookEndpoint.id == bindparam("endpoint_id"), WebhookEndpoint.enabled.is_(True)
)
_END_STREAK = (
    update(WebhookEndpoint)
    .where(WebhookEndpoint.id == bindparam("endpoint_id"), WebhookEndpoint.failing_since.is_not(None))
    .values(failing_since=None)
)


def settle(
    session: DbSession, delivery: Claimed, outcome: Outcome, *, now: datetime | None = None
) -> str | None:
    """Write the outcome of an attempt, if the delivery is still this worker's (its lease unchanged).

    Returns what became of it, ``delivered``, ``retry`` (due again later) or ``failed`` (given up), or
    None when it was not this worker's any more and nothing was written.
    """
    now = now or utcnow()
    due, at = delivery.lease_until, None  # the lease in place of a due time: it is not due again
    if outcome.delivered:
        settled, status, at = "delivered", DeliveryStatus.DELIVERED, now
    elif outcome.gone or now - delivery.event_created_at >= GIVE_UP_AFTER:
        settled, status = "failed", DeliveryStatus.FAILED
    else:
        settled, status, due = "retry", DeliveryStatus.PENDING, now + retry_delay(delivery.attempts)
    written = session.connection().execute(
        _SETTLE,
        {
            "delivery_id": delivery.id,
            "lease_until": delivery.lease_until,
            "new_status": status,
            "due": due,
            "at": at,
            "answer_status": outcome.status,
            "answer": outcome.answer[: webhooks.ANSWER_LENGTH],
        },
    )
    if not written.rowcount:
        return None
    if delivery.endpoint_id is not None:
        _judge_endpoint(session, delivery.endpoint_id, outcome, now)
    return settled


def _judge_endpoint(session: DbSession, endpoint_id: int, outcome: Outcome, now: datetime) -> None:
    """A delivered webhook clears the endpoint's failing streak; 410, or 3 days of failures, disable it.

    A delivered webhook reads the endpoint's streak without a lock, and has nothing to write in the
    usual case (no streak), so workers do not queue on the endpoint's row; a failure locks it.
    """
    if outcome.delivered:
        connection, params = session.connection(), {"endpoint_id": endpoint_id}
        if connection.scalar(_STREAK, params) is not None:
            connection.execute(_END_STREAK, params)
        return
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None or not endpoint.enabled:
        return
    endpoint.failing_since = endpoint.failing_since or now
    if outcome.gone:
        reason = f"it answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC"
    elif now - endpoint.failing_since >= GIVE_UP_AFTER:
        reason = f"every delivery failed from {endpoint.failing_since:%Y-%m-%d %H:%M} UTC to {now:%Y-%m-%d %H:%M} UTC"
    else:
        return
    webhooks.set_enabled(endpoint, False, reason)
    endpoint.notify_staff = True


def retry_now(
    session: DbSession, *, event_id: str | None = None, delivery_id: int | None = None, failed: bool = False
) -> int:
    """Make undelivered deliveries due now: those of ``event_id``, the one ``delivery_id``, or every failed one."""
    query = update(EventDelivery).where(EventDelivery.status != DeliveryStatus.DELIVERED)
    if event_id is not None:
        query = query.where(EventDelivery.event_id == event_id)
    if delivery_id is not None:
        query = query.where(EventDelivery.id == delivery_id)
    if failed:
        query = query.where(EventDelivery.status == DeliveryStatus.FAILED)
    query = query.values(status=DeliveryStatus.PENDING, next_attempt_at=utcnow())
    return session.execute(query.execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]


def give_back(session: DbSession, deliveries: list[Claimed]) -> None:
    """Return claimed deliveries that were not attempted (a worker stopping): due now, attempt uncounted."""
    for item in deliveries:
        session.execute(
            update(EventDelivery)
            .where(EventDelivery.id == item.id, EventDelivery.next_attempt_at == item.lease_until)
            .values(next_attempt_at=utcnow(), attempts=EventDelivery.attempts - 1)
            .execution_options(synchronize_session=False)
        )


def ping(endpoint: WebhookEndpoint) -> Outcome:
    """Send a signed ``ping`` event to ``endpoint`` now, recording nothing (``flask webhooks test``)."""
    now = utcnow()
    payload = json.dumps({"endpoint_id": endpoint.id})
    test = Claimed(
        0, 1, now, new_event_id(), PING, now, payload, endpoint.id, endpoint.url, endpoint.secret, None
    )
    return attempt(test)
