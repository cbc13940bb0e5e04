"""The camera registry.

Databases of hubs from before migrations already have this table (made by create_all):
it is created only where it is missing, so such a database upgrades in place.

Revision ID: 0001_cameras
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_cameras"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("cameras"):
        return
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("region_code", sa.String(24)),
        sa.Column("device_code", sa.String(20)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cameras_region_code", "cameras", ["region_code"])
    op.create_index("ix_cameras_device_code", "cameras", ["device_code"])


def downgrade() -> None:
    op.drop_table("cameras")
