"""The standard event as other systems send it and as the hub hands it out.

Code fields (category, level, source, region, status) are checked against the taxonomy by
the service, not here: the tables are data a city may replace, and the error must list the
codes of the tables in force.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Base64Bytes,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    field_validator,
    model_validator,
)

from videohub.codes import DeviceCodeStr

ChangeKind = Literal["created", "updated", "transition"]

MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
MAX_BATCH = 1000
"""Items per batch: one transaction holds the outbox lock for the whole batch."""


def _utc_representable(value: datetime) -> datetime:
    """Refuses a time that has no UTC equivalent (0001-01-01T00:00+05:00 is in year 0 in
    UTC): the store keeps UTC, and converting it raised OverflowError, a 500."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: this time has no UTC equivalent (years 1-9999)") from None
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]
"""A timezone-aware time that the store can keep (as UTC)."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list | tuple) and any(_has_nul(v) for v in value)


class InputModel(StrictModel):
    """What clients send into text columns and query parameters: PostgreSQL cannot hold a
    NUL character in text (psycopg raises DataError, a 500), where SQLite keeps it, so it
    is refused here for both, naming the field. (JSON columns escape it: `evidence` may.)"""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL (\\x00) characters")
        return value


class EvidenceDetection(StrictModel):
    """One detection that made the rule fire."""

    label: str = Field(..., max_length=64, description="Class name (person, car, fire, ...).")
    score: float = Field(..., ge=0, le=1, description="Detector confidence.")
    # Finite: JSON has no NaN or Infinity. Python's parser takes them, PostgreSQL's JSON
    # refused the row (a 500), and the stored change serialised them as null, so its webhook
    # payload no longer validated and the delivery was retried for ever.
    box: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] = Field(
        ..., description="x1, y1, x2, y2 in source-frame pixels (the snapshot's pixels)."
    )
    track_id: int | None = Field(None, description="Tracker id, stable while the object stays in view.")


class Evidence(StrictModel):
    """What supports the event, besides the snapshot JPEG (served at /snapshot.jpg)."""

    model: str | None = Field(None, max_length=128, description="Detection model that saw it.")
    rule_id: str | None = Field(None, max_length=128, description="Analytics rule that raised it.")
    detections: list[EvidenceDetection] = Field(
        default_factory=list, max_length=1000, description="The detections that triggered the rule."
    )
    count: int | None = Field(None, ge=0, description="Objects counted (crowd size, vehicles, crossings).")
    started_at: AwareDatetime | None = Field(None, description="When the condition began to hold.")
    last_seen_at: AwareDatetime | None = Field(None, description="The latest frame in which it still held.")
    ended_at: AwareDatetime | None = Field(None, description="When the condition stopped holding, once it has.")
    urls: list[str] = Field(default_factory=list, max_length=50, description="Photos or documents held elsewhere.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Source-specific data kept as sent (e.g. a hotline's own fields)."
    )

    @field_validator("extra")
    @classmethod
    def _extra_is_unicode(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Typed string fields refuse a lone surrogate ("\ud800" in the JSON); `Any` keeps
        # it, and hashing or answering the event then failed to encode it: a 500.
        try:
            json.dumps(v, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("holds a lone surrogate (\\ud800-\\udfff): not valid Unicode text") from None
        return v


class EventIn(InputModel):
    """An event to record (POST /api/v1/events, or the video analytics)."""

    title: str = Field(..., min_length=1, max_length=200, description="Short human-readable summary.")
    description: str = Field("", max_length=10000, description="Longer free text.")
    category_code: str = Field(..., max_length=16, description="Minor category code (GET /api/v1/taxonomy).")
    level: int = Field(..., description="Level code, 1 (especially serious) .. 5 (notice).")
    source: str = Field(..., max_length=32, description="Source code (ai_video, hotline_12345, ...).")
    source_ref: str | None = Field(
        None, max_length=128, description="The source system's own reference (ticket number, alarm id)."
    )
    region_code: str | None = Field(
        None,
        max_length=18,
        description="GB/T 2260 code of the table, optionally extended by town/community/grid digits. "
        "Taken from the camera when absent.",
    )
    address: str | None = Field(None, max_length=300, description="Street address or place description.")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, WGS84.")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, WGS84.")
    camera_id: str | None = Field(None, max_length=64, description="Registered camera that saw it.")
    device_code: DeviceCodeStr | None = Field(
        None, description="20-digit GB/T 28181 code of the device; taken from the camera when absent."
    )
    occurred_at: UtcDatetime = Field(..., description="When it happened (with a UTC offset).")
    reported_at: UtcDatetime | None = Field(None, description="When the source reported it; default: now.")
    evidence: Evidence = Field(default_factory=Evidence, description="Detections, model, counts and links.")
    snapshot_jpeg: Base64Bytes | None = Field(
        None, description="Evidence picture, a base64-encoded JPEG (at most 8 MiB)."
    )

    @field_validator("snapshot_jpeg")
    @classmethod
    def _jpeg(cls, v: bytes | None) -> bytes | None:
        if v is None:
            return v
        if not v.startswith(b"\xff\xd8"):
            raise ValueError("snapshot_jpeg is not a JPEG (it must start with the bytes FF D8)")
        if len(v) > MAX_SNAPSHOT_BYTES:
            raise ValueError(f"snapshot_jpeg is larger than {MAX_SNAPSHOT_BYTES} bytes")
        return v

    @model_validator(mode="after")
    def _both_coords(self) -> EventIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: give both or neither")
        return self


class ProcessRecord(StrictModel):
    """One step of the handling process."""

    at: datetime = Field(..., description="When the step was taken (UTC).")
    actor: str = Field(..., description="Who took it (user, agency or system).")
    from_status: int | None = Field(..., description="Status before; null for the record of creation.")
    to_status: int = Field(..., description="Status after.")
    comment: str = Field(..., description="What was done or why.")
    close_reason: str | None = Field(None, description="Set on the step that closed the event.")


class CategoryNames(StrictModel):
    """What an event's category codes mean, in both languages of the code tables."""

    major_zh: str = Field(..., description="Major category, Chinese.")
    major_en: str = Field(..., description="Major category, English.")
    minor_zh: str = Field(..., description="Minor category, Chinese.")
    minor_en: str = Field(..., description="Minor category, English.")


class EventOut(StrictModel):
    """A stored event."""

    id: str = Field(..., description="Event id (32 hex digits).")
    title: str = Field(..., description="Short summary.")
    description: str = Field(..., description="Longer free text.")
    major_code: str = Field(..., description="Major category code.")
    category_code: str = Field(..., description="Minor category code.")
    category_names: CategoryNames | None = Field(
        None, description="Names of its major and minor category in the code tables in force (null if they lack it)."
    )
    level: int = Field(..., description="Level code.")
    source: str = Field(..., description="Source code.")
    source_ref: str | None = Field(..., description="The source system's own reference.")
    status: int = Field(..., description="Status code.")
    close_reason: str | None = Field(..., description="Why it was closed (closed statuses only).")
    region_code: str | None = Field(..., description="GB/T 2260 code with optional extension.")
    address: str | None = Field(..., description="Street address or place.")
    lon: float | None = Field(..., description="Longitude, WGS84.")
    lat: float | None = Field(..., description="Latitude, WGS84.")
    camera_id: str | None = Field(..., description="Camera that saw it.")
    device_code: str | None = Field(..., description="GB/T 28181 device code.")
    occurred_at: datetime = Field(..., description="When it happened (UTC).")
    reported_at: datetime = Field(..., description="When it was reported (UTC).")
    updated_at: datetime = Field(..., description="Last change (UTC).")
    evidence: Evidence = Field(..., description="Detections, model, counts and links.")
    has_snapshot: bool = Field(..., description="Whether /api/v1/events/{id}/snapshot.jpg has a picture.")
    incident_key: str | None = Field(..., description="The analytics incident it belongs to, if any.")
    process: list[ProcessRecord] = Field(..., description="The handling process so far, oldest first.")


class EventPage(StrictModel):
    """One page of a list, newest first."""

    items: list[EventOut] = Field(..., description="The events of this page.")
    next_cursor: str | None = Field(..., description="Pass as `cursor` for the next page; null on the last.")


class TransitionIn(InputModel):
    """A step of the handling process (POST /api/v1/events/{id}/transitions)."""

    to_status: int = Field(..., description="Status to move to; must be allowed from the current one.")
    actor: str = Field(..., min_length=1, max_length=128, description="Who takes the step.")
    comment: str = Field("", max_length=10000, description="What was done or why.")
    close_reason: str | None = Field(
        None, max_length=32, description="Why the event is closed (moves into the closed status only)."
    )


class EventFilter(InputModel):
    """Which events a list, stream or subscription wants; an empty field matches all, a
    field with several values matches any of them."""

    since: UtcDatetime | None = Field(None, description="occurred_at at or after this time.")
    until: UtcDatetime | None = Field(None, description="occurred_at before this time.")
    region: list[str] = Field(default_factory=list, description="Region codes; a division includes its towns.")
    category: list[str] = Field(default_factory=list, description="Major or minor category codes.")
    level: list[int] = Field(default_factory=list, description="Level codes.")
    source: list[str] = Field(default_factory=list, description="Source codes.")
    status: list[int] = Field(default_factory=list, description="Status codes.")
    camera_id: list[str] = Field(default_factory=list, description="Camera ids.")


class EventChange(StrictModel):
    """One entry of the change outbox, with the event as it is now."""

    seq: int = Field(..., description="Position in the outbox; SSE `id:` and Last-Event-ID.")
    kind: ChangeKind = Field(..., description="created, updated (evidence) or transition (status).")
    at: datetime = Field(..., description="When the change was made (UTC).")
    event: EventOut = Field(..., description="The event as it is now.")


class EventBatchItem(InputModel):
    """One item of POST /api/v1/events/batch."""

    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="As the Idempotency-Key header of POST /api/v1/events: a retry with the same key (in any "
        "batch, or as a single request) returns the first one's event instead of making another.",
    )
    event: EventIn = Field(..., description="The event, as POST /api/v1/events takes it.")


class EventBatchIn(StrictModel):
    """Events to record at once. Each item is an `EventBatchItem`; items are validated one by
    one, so a malformed item is reported in the response and does not refuse the others."""

    items: list[dict[str, Any]] = Field(
        ...,
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1-{MAX_BATCH} objects of the form {{idempotency_key?, event: EventIn}}.",
    )


class BatchItemError(StrictModel):
    """Why an item was refused: what a single POST would have answered with 422."""

    detail: str = Field(..., description="What is wrong, naming the field.")
    field: str | None = Field(None, description="The field at fault (dotted path inside the item).")
    allowed: list[str] = Field(default_factory=list, description="The codes that would be accepted, if a code.")


class BatchItemResult(StrictModel):
    """The outcome of one item, at the item's position in the request."""

    index: int = Field(..., description="Position of the item in the request, from 0.")
    outcome: Literal["created", "replayed", "error"] = Field(
        ...,
        description="created: a new event; replayed: the key was used before with the same event, `id` is that "
        "event; error: refused, nothing recorded for this item.",
    )
    id: str | None = Field(None, description="The event's id (null on error).")
    error: BatchItemError | None = Field(None, description="Why the item was refused (outcome error only).")


class EventBatchOut(StrictModel):
    """Per-item results, in request order, and their counts."""

    created: int = Field(..., description="Items that made a new event.")
    replayed: int = Field(..., description="Items whose key was seen before with the same event.")
    failed: int = Field(..., description="Items refused.")
    results: list[BatchItemResult] = Field(..., description="One entry per item, in request order.")
