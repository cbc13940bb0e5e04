"""Tables of the push subscriptions: webhook subscriptions, their durable delivery queue,
and the cursors with which outbox readers (the NATS publisher) remember where they are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from videohub.db import Base, UTCDateTime
from videohub.events.models import SeqType


class SubscriptionRow(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    # Kept as given: signing needs the secret itself, so it cannot be hashed. The API never
    # returns it and nothing logs it.
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The outbox seq up to which changes have been turned into deliveries. Advanced in the
    # transaction that inserts them, so a crash in between neither loses nor repeats one.
    cursor: Mapped[int] = mapped_column(SeqType, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class DeliveryRow(Base):
    """One change to deliver to one subscription; retried until delivered or failed."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(SeqType, nullable=False)
    event_id: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # The change as it was when enqueued (EventChange JSON): every retry sends the same event.
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    # pending (queued or being retried), delivered (a 2xx came back) or failed (gave up).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # While an attempt runs this is its lease: a hub that died mid-attempt leaves the
    # delivery due again once the lease runs out.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A change becomes at most one delivery per subscription, whatever races.
        UniqueConstraint("subscription_id", "seq", name="uq_webhook_deliveries_sub_seq"),
        # The worker's question: the oldest pending delivery of each subscription.
        Index("ix_webhook_deliveries_sub_status_seq", "subscription_id", "status", "seq"),
        # Pruning of old delivered rows.
        Index("ix_webhook_deliveries_status_delivered", "status", "delivered_at"),
    )


class OutboxCursorRow(Base):
    """Where a named reader of the change outbox has got to (e.g. 'nats:<stream>')."""

    __tablename__ = "outbox_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(SeqType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
