"""SQL for the event filters, and the opaque keyset cursor of the list."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from videohub.events.models import DISTRICT_DIGITS, EventRow, district_of
from videohub.events.schema import EventFilter
from videohub.taxonomy import Taxonomy, TaxonomyError


def filter_clauses(flt: EventFilter, taxonomy: Taxonomy) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter; raises TaxonomyError for a code the tables do not hold, so
    a typo is an error, not an empty result."""
    clauses: list[ColumnElement[bool]] = []
    if flt.since is not None:
        clauses.append(EventRow.occurred_at >= flt.since)
    if flt.until is not None:
        clauses.append(EventRow.occurred_at < flt.until)
    if flt.region:
        ranges = [taxonomy.region_range(code) for code in flt.region]
        # A district (prefix of exactly 6 digits) is matched on its expression index, which
        # also yields the list order; the city (a shorter prefix) and towns use the range.
        districts = [low for low, _ in ranges if len(low) == DISTRICT_DIGITS]
        parts = [EventRow.region_code.between(low, high) for low, high in ranges if len(low) != DISTRICT_DIGITS]
        if districts:
            parts.append(district_of(EventRow.region_code).in_(districts))
        clauses.append(or_(*parts))
    if flt.category:
        majors: list[str] = []
        minors: list[str] = []
        for code in flt.category:
            level, value = taxonomy.category_filter(code)
            (majors if level == "major" else minors).append(value)
        parts = []
        if majors:
            parts.append(EventRow.major_code.in_(majors))
        if minors:
            parts.append(EventRow.minor_code.in_(minors))
        clauses.append(or_(*parts))
    if flt.level:
        clauses.append(EventRow.level.in_([taxonomy.check_level(x) for x in flt.level]))
    if flt.source:
        clauses.append(EventRow.source.in_([taxonomy.check_source(x) for x in flt.source]))
    if flt.status:
        clauses.append(EventRow.status.in_([taxonomy.check_status(x) for x in flt.status]))
    if flt.camera_id:
        clauses.append(EventRow.camera_id.in_(flt.camera_id))
    return clauses


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    raw = json.dumps([occurred_at.isoformat(), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, event_id = json.loads(raw)
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or not isinstance(event_id, str) or "\x00" in event_id:
            raise ValueError
        at.astimezone(UTC)  # the store compares in UTC: a time with no UTC equivalent is no cursor
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError):
        raise TaxonomyError("cursor", "not a cursor this API handed out (pass next_cursor as it was)") from None
    return at, event_id


def after_cursor(cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor's row in the list order (occurred_at, id) descending.

    The plain bound `occurred_at <= at` comes first on purpose: it is what lets the time
    index (and every (filter, occurred_at) index) seek straight to the cursor. With the OR
    alone, PostgreSQL and SQLite scan the index from the newest row and filter, so a page
    deep in a million events read half of them (measured: see benchmarks/results/events.json)."""
    at, event_id = decode_cursor(cursor)
    return and_(EventRow.occurred_at <= at, or_(EventRow.occurred_at < at, EventRow.id < event_id))


def newest_first() -> tuple[Any, Any]:
    return EventRow.occurred_at.desc(), EventRow.id.desc()
