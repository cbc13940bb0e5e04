"""Tables of the event store: events, their snapshots, their process records and the
change outbox that SSE, webhooks and NATS read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from videohub.db import Base, UTCDateTime

# SQLite makes only INTEGER PRIMARY KEY an alias of the rowid (and so autoincrementing);
# PostgreSQL gets a 64-bit sequence, since the outbox grows with every change ever made.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    major_code: Mapped[str] = mapped_column(String(16), nullable=False)
    minor_code: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    source_ref: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(18))
    address: Mapped[str | None] = mapped_column(String(300))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    camera_id: Mapped[str | None] = mapped_column(String(64))
    device_code: Mapped[str | None] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    has_snapshot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Unique: two concurrent retries of one request cannot both insert; the loser reads the
    # winner's row. The hash tells a true retry from a different request reusing a key.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    incident_key: Mapped[str | None] = mapped_column(String(200), index=True)

    # The list is newest first with keyset pagination on (occurred_at, id); each filter gets
    # an index that continues in that order, so a filtered page is an index range scan.
    __table_args__ = (
        Index("ix_events_time", "occurred_at", "id"),
        Index("ix_events_region_time", "region_code", "occurred_at"),
        Index("ix_events_major_time", "major_code", "occurred_at"),
        Index("ix_events_minor_time", "minor_code", "occurred_at"),
        Index("ix_events_level_time", "level", "occurred_at"),
        Index("ix_events_source_time", "source", "occurred_at"),
        Index("ix_events_status_time", "status", "occurred_at"),
        Index("ix_events_camera_time", "camera_id", "occurred_at"),
    )


DISTRICT_DIGITS = 6


def district_of(region_code: Any) -> Any:
    """The SQL expression `substr(region_code, 1, 6)`: the GB/T 2260 division an event lies
    in. Literal arguments, not bound parameters: a database uses an index on an expression
    only for a query with the very same expression."""
    return func.substr(region_code, literal_column("1"), literal_column(str(DISTRICT_DIGITS)))


# A district's list (its towns included) is the most common agency query. A range on
# region_code cannot also give the newest-first order, so every page sorted all of the
# district's events (0.5 s at 1M on SQLite); equality on the district gives both.
Index("ix_events_district_time", district_of(EventRow.region_code), EventRow.occurred_at, EventRow.id)


class EventSnapshotRow(Base):
    """The evidence JPEG, in its own table so that list queries never read it."""

    __tablename__ = "event_snapshots"

    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class EventProcessRow(Base):
    """One step of an event's handling process; rows are only ever added."""

    __tablename__ = "event_process"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    from_status: Mapped[int | None] = mapped_column(SmallInteger)
    to_status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    close_reason: Mapped[str | None] = mapped_column(String(32))


class EventChangeRow(Base):
    """The transactional outbox: one row per change, written in the transaction that makes
    the change, so a reader that follows `seq` sees every change exactly once and a restart
    loses nothing."""

    __tablename__ = "event_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a seq a subscriber has seen

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
