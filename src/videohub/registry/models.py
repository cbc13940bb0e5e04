"""Table of cameras added through the API (config-file cameras are not stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from videohub.db import Base


class CameraRow(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The whole CameraSpec as JSON: one source of truth for fields, so the table never
    # drifts from the pydantic model; the columns below exist for querying.
    spec: Mapped[dict] = mapped_column(JSON, nullable=False)
    region_code: Mapped[str | None] = mapped_column(String(24), index=True)
    device_code: Mapped[str | None] = mapped_column(String(20), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
