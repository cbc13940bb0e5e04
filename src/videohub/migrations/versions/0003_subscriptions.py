"""Push subscriptions: webhook subscriptions, their delivery queue, outbox reader cursors.

Revision ID: 0003_subscriptions
Revises: 0002_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_subscriptions"
down_revision = "0002_events"
branch_labels = None
depends_on = None

# Written out rather than imported from the models (see 0002).
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("cursor", Seq, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.String(32),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", Seq, nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ts),
        sa.Column("last_attempt_at", ts),
        sa.Column("last_status_code", sa.SmallInteger()),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("delivered_at", ts),
        sa.UniqueConstraint("subscription_id", "seq", name="uq_webhook_deliveries_sub_seq"),
    )
    op.create_index("ix_webhook_deliveries_sub_status_seq", "webhook_deliveries", ["subscription_id", "status", "seq"])
    op.create_index("ix_webhook_deliveries_status_delivered", "webhook_deliveries", ["status", "delivered_at"])
    op.create_table(
        "outbox_cursors",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("seq", Seq, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
