"""Index for district lists: (substr(region_code, 1, 6), occurred_at, id).

A district filter includes the district's towns, so it was a range on region_code; no
index serves both that range and the newest-first order, and every page sorted all of the
district's events (SQLite, 1M events: 549 ms p50; see benchmarks/results/events.json).
Equality on the district's expression index reads just the page.

Revision ID: 0004_events_district_index
Revises: 0003_subscriptions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_events_district_index"
down_revision = "0003_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_district_time", "events", [sa.text("substr(region_code, 1, 6)"), "occurred_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_district_time", table_name="events")
