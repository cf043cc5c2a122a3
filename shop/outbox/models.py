"""Tables of the events that leave the shop: the outbox, its deliveries, webhook endpoints, the worker's clock."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from ..models import exact_string, utcnow

# An order's payload (500 lines with long names) can be larger than MySQL's 64 KiB TEXT.
PAYLOAD_TYPE = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Event(Model):
    """One thing that happened, written in the transaction that made it happen (the outbox).

    ``position`` is the feed's order: given after the event's transaction committed, in the order
    events become visible (``shop.outbox.feed.sequence``), never from the id, which a transaction
    that commits later may have drawn earlier.
    """

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(exact_string(32), primary_key=True)  # evt_ + a ULID
    type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(exact_string(64))  # the order number or the SKU
    payload: Mapped[str] = mapped_column(PAYLOAD_TYPE)  # the envelope's ``data``, as JSON
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class WebhookEndpoint(Model):
    """Where webhooks go: a URL, the event types it wants (``*``: all) and the secret they are signed with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[str] = mapped_column(String(500), default="*")  # space-separated
    secret: Mapped[str] = mapped_column(String(100))  # whsec_ + base64
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # Since when every delivery has failed (None: the last one succeeded); 3 days of it disable it.
    failing_since: Mapped[datetime | None]
    # A disabled endpoint whose staff notice has not gone out yet (the worker sends it).
    notify_staff: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def types(self) -> list[str]:
        return self.event_types.split()

    def wants(self, event_type: str) -> bool:
        return "*" in self.types or event_type in self.types


class EventDelivery(Model):
    """One event to one target (a webhook endpoint, or an e-mail address): delivered at least once."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_valid"),
        CheckConstraint("(endpoint_id IS NULL) <> (email IS NULL)", name="one_target"),
        UniqueConstraint("event_id", "endpoint_id"),
        UniqueConstraint("event_id", "email"),
        # The worker's claim: pending deliveries by when they are due.
        Index("ix_event_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # When it is due; while a worker delivers it, the end of that worker's lease.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]  # the HTTP status of the last answer
    last_answer: Mapped[str | None] = mapped_column(String(1000))  # its first characters, or the error
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship()
    endpoint: Mapped[WebhookEndpoint | None] = relationship()


class WorkerClock(Model):
    """What the worker remembers between runs: the feed's last position, when it last did each job."""

    __tablename__ = "worker_clock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime | None]
