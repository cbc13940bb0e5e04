"""Standard events: events, their snapshots and process records, and the change outbox.

Revision ID: 0002_events
Revises: 0001_cameras
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_events"
down_revision = "0001_cameras"
branch_labels = None
depends_on = None

# Written out rather than imported from the models: a migration must keep making the
# schema of its own day, whatever the models become later.
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("major_code", sa.String(16), nullable=False),
        sa.Column("minor_code", sa.String(16), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_ref", sa.String(128)),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("close_reason", sa.String(32)),
        sa.Column("region_code", sa.String(18)),
        sa.Column("address", sa.String(300)),
        sa.Column("lon", sa.Float()),
        sa.Column("lat", sa.Float()),
        sa.Column("camera_id", sa.String(64)),
        sa.Column("device_code", sa.String(20)),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("reported_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("has_snapshot", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), unique=True),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("incident_key", sa.String(200)),
    )
    op.create_index("ix_events_incident_key", "events", ["incident_key"])
    op.create_index("ix_events_time", "events", ["occurred_at", "id"])
    for name, column in [
        ("region", "region_code"),
        ("major", "major_code"),
        ("minor", "minor_code"),
        ("level", "level"),
        ("source", "source"),
        ("status", "status"),
        ("camera", "camera_id"),
    ]:
        op.create_index(f"ix_events_{name}_time", "events", [column, "occurred_at"])
    op.create_table(
        "event_snapshots",
        sa.Column("event_id", sa.String(32), sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("taken_at", ts, nullable=False),
    )
    op.create_table(
        "event_process",
        sa.Column("id", Seq, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.SmallInteger()),
        sa.Column("to_status", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("close_reason", sa.String(32)),
    )
    op.create_index("ix_event_process_event_id", "event_process", ["event_id"])
    op.create_table(
        "event_changes",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", ts, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("event_changes")
    op.drop_table("event_process")
    op.drop_table("event_snapshots")
    op.drop_table("events")
