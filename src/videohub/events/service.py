"""`EventService`: records standard events, moves them through the handling process and
feeds the change outbox. It knows nothing of HTTP: errors are exceptions the API maps.

Every change is one transaction that also appends its outbox row, so a subscriber that
follows the outbox by `seq` sees each change exactly once, even across a restart.
"""

from __future__ import annotations

import builtins
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from videohub.events.models import EventChangeRow, EventProcessRow, EventRow, EventSnapshotRow
from videohub.events.notify import ChangeNotifier
from videohub.events.query import after_cursor, encode_cursor, filter_clauses, newest_first
from videohub.events.schema import (
    MAX_BATCH,
    CategoryNames,
    ChangeKind,
    EventChange,
    EventFilter,
    EventIn,
    EventOut,
    EventPage,
    Evidence,
    ProcessRecord,
)
from videohub.taxonomy import Taxonomy, TaxonomyError

MAX_PAGE = 500
# Core tables for the bulk inserts of a batch: one executemany per table, where an ORM
# bulk insert splits the rows into one statement per combination of NULL columns.
_EVENTS = cast(Table, EventRow.__table__)
_PROCESS = cast(Table, EventProcessRow.__table__)
_SNAPSHOTS = cast(Table, EventSnapshotRow.__table__)
_CHANGES = cast(Table, EventChangeRow.__table__)

# Any constant will do: it names the lock that orders outbox inserts on PostgreSQL.
_OUTBOX_LOCK = 0x76686F7574626F78  # "vhoutbox"


class EventNotFound(Exception):
    pass


class IdempotencyConflict(Exception):
    """An idempotency key sent again with a different request."""


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one item of a batch: the event's id and whether this item made it
    (False: a replay of an earlier request with the same key), or why it was refused."""

    event_id: str | None
    created: bool
    error: TaxonomyError | IdempotencyConflict | None = None


@dataclass
class _Pending:
    index: int
    event: EventIn
    row: dict[str, Any]  # column values
    jpeg: bytes | None
    actor: str


@dataclass(frozen=True)
class CameraFacts:
    """What an event takes from the registered camera that saw it."""

    device_code: str | None
    region_code: str | None
    lon: float | None
    lat: float | None


CameraLookup = Callable[[str], CameraFacts | None]
"""camera id -> its facts, or None if no such camera is registered."""


def _now() -> datetime:
    return datetime.now(UTC)


class EventService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        taxonomy: Taxonomy,
        notifier: ChangeNotifier | None = None,
        cameras: CameraLookup | None = None,
    ) -> None:
        self.sessions = sessions
        self.taxonomy = taxonomy
        self.notifier = notifier or ChangeNotifier()
        self._cameras = cameras
        self._pg = sessions.kw["bind"].dialect.name == "postgresql"

    # --- writing ----------------------------------------------------------------------
    def create(
        self,
        event: EventIn,
        actor: str,
        idempotency_key: str | None = None,
        snapshot_jpeg: bytes | None = None,
        incident_key: str | None = None,
    ) -> tuple[EventOut, bool]:
        """Records an event in the initial status; returns it and whether it was new. A
        request repeated with the same idempotency key returns the first one's event."""
        values, jpeg = self._prepare(event, idempotency_key, snapshot_jpeg, incident_key, _now())
        row = EventRow(**values)
        digest: str = values["request_hash"]
        if idempotency_key is not None:
            replay = self._replay(idempotency_key, digest)
            if replay is not None:
                return replay, False
        now = row.updated_at
        try:
            with self.sessions.begin() as s:
                s.add(row)
                # Flush now: a concurrent twin fails here, before taking the outbox lock.
                s.flush()
                if jpeg is not None:
                    s.add(EventSnapshotRow(event_id=row.id, jpeg=jpeg, taken_at=now))
                s.add(
                    EventProcessRow(
                        event_id=row.id, at=now, actor=actor, from_status=None, to_status=row.status, comment="created"
                    )
                )
                seq = self._append_change(s, row.id, "created", now)
        except IntegrityError:
            if idempotency_key is None:
                raise
            replay = self._replay(idempotency_key, digest)
            if replay is None:
                raise
            return replay, False
        self.notifier.notify(seq)
        return self.get(row.id), True

    def create_many(
        self,
        items: Sequence[tuple[EventIn, str | None]],
        actor: str | Callable[[EventIn], str],
    ) -> builtins.list[BatchOutcome]:
        """Records many events (each with an optional idempotency key) in one transaction;
        returns one outcome per item, in order. A refused item (unknown code, key reused for
        a different request) is reported and the others are still recorded. A key given
        twice in one batch makes one event; the later item is its replay. Each new event
        gets its process record and its `created` outbox row, as `create` gives it, and the
        notifier hears once, after the commit."""
        if len(items) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} events per batch")
        now = _now()
        outcomes: builtins.list[BatchOutcome | None] = [None] * len(items)
        pending: builtins.list[_Pending] = []
        first: dict[str, tuple[int, str | None]] = {}  # key -> (index of its first item, hash)
        twins: builtins.list[tuple[int, int]] = []  # (item, the earlier item with its key)
        for i, (event, key) in enumerate(items):
            try:
                row, jpeg = self._prepare(event, key, None, None, now)
            except TaxonomyError as exc:
                outcomes[i] = BatchOutcome(None, False, exc)
                continue
            if key is not None:
                if key in first:
                    earlier, digest = first[key]
                    if digest == row["request_hash"]:
                        twins.append((i, earlier))
                    else:
                        outcomes[i] = BatchOutcome(None, False, _conflict(key, f"item {earlier} of this batch"))
                    continue
                first[key] = (i, row["request_hash"])
            pending.append(_Pending(i, event, row, jpeg, actor if isinstance(actor, str) else actor(event)))
        stored = self._stored_keys(builtins.list(first))
        fresh: builtins.list[_Pending] = []
        for p in pending:
            key = p.row["idempotency_key"]
            if key is not None and key in stored:
                event_id, digest = stored[key]
                outcomes[p.index] = (
                    BatchOutcome(event_id, False)
                    if digest == p.row["request_hash"]
                    else BatchOutcome(None, False, _conflict(key, f"event {event_id}"))
                )
            else:
                fresh.append(p)
        if fresh:
            try:
                seq = self._insert_batch(fresh, now)
            except IntegrityError:
                if not any(p.row["idempotency_key"] for p in fresh):
                    raise
                # A concurrent request stored one of these keys after we looked: `create`
                # settles each item on its own, as it settles racing single requests.
                for p in fresh:
                    outcomes[p.index] = self._create_one(p)
            else:
                for p in fresh:
                    outcomes[p.index] = BatchOutcome(p.row["id"], True)
                self.notifier.notify(seq)
        for i, earlier in twins:
            done = outcomes[earlier]
            assert done is not None
            outcomes[i] = BatchOutcome(done.event_id, False, done.error)
        return [o for o in outcomes if o is not None]

    def _create_one(self, p: _Pending) -> BatchOutcome:
        try:
            out, created = self.create(p.event, p.actor, p.row["idempotency_key"])
        except (TaxonomyError, IdempotencyConflict) as exc:
            return BatchOutcome(None, False, exc)
        return BatchOutcome(out.id, created)

    def _stored_keys(self, keys: builtins.list[str]) -> dict[str, tuple[str, str | None]]:
        """key -> (event id, request hash) of the keys already stored."""
        if not keys:
            return {}
        with self.sessions() as s:
            rows = s.execute(
                select(EventRow.idempotency_key, EventRow.id, EventRow.request_hash).where(
                    EventRow.idempotency_key.in_(keys)
                )
            )
            return {str(k): (i, h) for k, i, h in rows}

    def _insert_batch(self, batch: builtins.list[_Pending], now: datetime) -> int:
        """Inserts the events with their snapshots, process records and outbox rows; returns
        the last outbox seq. Raises IntegrityError if a key was taken meanwhile."""
        # Plain executemany INSERTs, not the unit of work: its bookkeeping of three objects
        # per event cost more than the database's own work.
        with self.sessions.begin() as s:
            # In key order: each key takes a lock in the unique index until the commit, and
            # two batches racing with the same keys in different orders each waited for the
            # other (PostgreSQL: DeadlockDetected). One order for all makes the later one
            # wait, then find the keys taken. The outbox below keeps the items' order.
            s.execute(_EVENTS.insert(), sorted((p.row for p in batch), key=lambda r: r["idempotency_key"] or ""))
            snapshots = [{"event_id": p.row["id"], "jpeg": p.jpeg, "taken_at": now} for p in batch if p.jpeg]
            if snapshots:
                s.execute(_SNAPSHOTS.insert(), snapshots)
            s.execute(
                _PROCESS.insert(),
                [
                    {
                        "event_id": p.row["id"],
                        "at": now,
                        "actor": p.actor,
                        "from_status": None,
                        "to_status": p.row["status"],
                        "comment": "created",
                        "close_reason": None,
                    }
                    for p in batch
                ],
            )
            return self._append_changes(s, [p.row["id"] for p in batch], "created", now)

    def _prepare(
        self,
        event: EventIn,
        idempotency_key: str | None,
        snapshot_jpeg: bytes | None,
        incident_key: str | None,
        now: datetime,
    ) -> tuple[dict[str, Any], bytes | None]:
        """The column values of an event's row (and its JPEG); raises TaxonomyError for a
        code the tables do not hold or a camera that is not registered. Plain values, not
        an EventRow: a batch inserts them as they are, and building ORM objects was a third
        of a batch's time."""
        tax = self.taxonomy
        major, minor = tax.minor(event.category_code)
        tax.check_level(event.level)
        tax.check_source(event.source)
        device_code, region_code, lon, lat = event.device_code, event.region_code, event.lon, event.lat
        if event.camera_id is not None:
            facts = self._cameras(event.camera_id) if self._cameras else None
            if facts is None:
                raise TaxonomyError("camera_id", f"no camera {event.camera_id!r} is registered")
            device_code = device_code or facts.device_code
            region_code = region_code or facts.region_code
            if lon is None and lat is None:
                lon, lat = facts.lon, facts.lat
        if region_code is not None:
            # A region taken from the camera is the camera's to fix: say so.
            tax.check_region(region_code, "region_code" if event.region_code else "camera_id (its region_code)")
        jpeg = snapshot_jpeg if snapshot_jpeg is not None else event.snapshot_jpeg
        values = dict(
            id=uuid.uuid4().hex,
            title=event.title,
            description=event.description,
            major_code=major.code,
            minor_code=minor.code,
            level=event.level,
            source=event.source,
            source_ref=event.source_ref,
            status=tax.initial_status,
            close_reason=None,
            region_code=region_code,
            address=event.address,
            lon=lon,
            lat=lat,
            camera_id=event.camera_id,
            device_code=device_code,
            occurred_at=event.occurred_at,
            reported_at=event.reported_at or now,
            updated_at=now,
            evidence=event.evidence.model_dump(mode="json", exclude_defaults=True),
            has_snapshot=jpeg is not None,
            idempotency_key=idempotency_key,
            request_hash=_request_hash(event, snapshot_jpeg, incident_key),
            incident_key=incident_key,
        )
        return values, jpeg

    def _replay(self, key: str, digest: str) -> EventOut | None:
        with self.sessions() as s:
            row = s.scalars(select(EventRow).where(EventRow.idempotency_key == key)).one_or_none()
            if row is None:
                return None
            if row.request_hash != digest:
                raise _conflict(key, f"event {row.id}")
            return self._outs(s, [row])[0]

    def transition(
        self,
        event_id: str,
        to_status: int,
        actor: str,
        comment: str = "",
        close_reason: str | None = None,
    ) -> EventOut:
        """Moves an event one step along the state machine and records the step. Raises
        EventNotFound, TaxonomyError (unknown code, bad close reason) or TransitionError."""
        for _ in range(5):
            current = self._status(event_id)
            reason = self.taxonomy.check_transition(current, to_status, close_reason)
            now = _now()
            values: dict[str, Any] = {"status": to_status, "updated_at": now}
            closed = self.taxonomy.closed_status
            if to_status == closed:
                values["close_reason"] = reason
            elif to_status < closed:
                values["close_reason"] = None  # reopened, where a city's table allows it
            # (past the closed status, archived, the reason stays)
            with self.sessions.begin() as s:
                # Compare-and-set on the status read above; the UPDATE comes first so SQLite
                # takes its write lock at once (a read first could fail on upgrade).
                done = s.execute(
                    update(EventRow).where(EventRow.id == event_id, EventRow.status == current).values(**values)
                )
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another step got in first: check again against the new status
                s.add(
                    EventProcessRow(
                        event_id=event_id,
                        at=now,
                        actor=actor,
                        from_status=current,
                        to_status=to_status,
                        comment=comment,
                        close_reason=reason,
                    )
                )
                seq = self._append_change(s, event_id, "transition", now)
            self.notifier.notify(seq)
            return self.get(event_id)
        raise RuntimeError(f"event {event_id}: status kept changing under a transition; try again")

    def update_incident(
        self,
        event_id: str,
        evidence: Evidence,
        snapshot_jpeg: bytes | None = None,
        *,
        title: str | None = None,
        level: int | None = None,
    ) -> EventOut:
        """Updates the evidence of an ongoing incident's event (last seen, counts, the newer
        snapshot): fields set in `evidence` replace the stored ones, the others stay; a
        `title` or `level` given replaces the event's (the rule was edited meanwhile). The
        status is the human process and is left alone."""
        if level is not None:
            self.taxonomy.check_level(level)
        with self.sessions() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise EventNotFound(event_id)
            stored = Evidence.model_validate(row.evidence)
        merged = stored.model_copy(update={f: getattr(evidence, f) for f in evidence.model_fields_set})
        merged_json = merged.model_dump(mode="json", exclude_defaults=True)
        now = _now()
        with self.sessions.begin() as s:
            values: dict[str, Any] = {"evidence": merged_json, "updated_at": now}
            if title is not None:
                values["title"] = title
            if level is not None:
                values["level"] = level
            if snapshot_jpeg is not None:
                values["has_snapshot"] = True
            s.execute(update(EventRow).where(EventRow.id == event_id).values(**values))
            if snapshot_jpeg is not None:
                snap = s.get(EventSnapshotRow, event_id)
                if snap is None:
                    s.add(EventSnapshotRow(event_id=event_id, jpeg=snapshot_jpeg, taken_at=now))
                else:
                    snap.jpeg, snap.taken_at = snapshot_jpeg, now
            seq = self._append_change(s, event_id, "updated", now)
        self.notifier.notify(seq)
        return self.get(event_id)

    def _append_change(self, s: Session, event_id: str, kind: ChangeKind, at: datetime) -> int:
        return self._append_changes(s, [event_id], kind, at)

    def _append_changes(self, s: Session, event_ids: builtins.list[str], kind: ChangeKind, at: datetime) -> int:
        """Appends one outbox row per event, in order; returns the last seq."""
        if self._pg:
            # A sequence hands out numbers at insert, not at commit: without this lock a
            # reader could pass seq 8 (committed) while 7 is still in flight and never see
            # it. Held to the commit, it makes seq order the commit order.
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _OUTBOX_LOCK})
        seqs = s.scalars(
            _CHANGES.insert().returning(_CHANGES.c.seq),
            [{"event_id": event_id, "kind": kind, "at": at} for event_id in event_ids],
        ).all()
        return max(seqs)

    # --- reading ----------------------------------------------------------------------
    def _status(self, event_id: str) -> int:
        with self.sessions() as s:
            status = s.scalar(select(EventRow.status).where(EventRow.id == event_id))
        if status is None:
            raise EventNotFound(event_id)
        return status

    def get(self, event_id: str) -> EventOut:
        with self.sessions() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                raise EventNotFound(event_id)
            return self._outs(s, [row])[0]

    def find_incident(self, incident_key: str) -> EventOut | None:
        """The newest event an analytics incident raised (the raiser picks it up after a restart)."""
        with self.sessions() as s:
            row = s.scalars(
                select(EventRow).where(EventRow.incident_key == incident_key).order_by(*newest_first()).limit(1)
            ).first()
            return None if row is None else self._outs(s, [row])[0]

    def list(self, flt: EventFilter, cursor: str | None = None, limit: int = 50) -> EventPage:
        """One page, newest first (occurred_at, then id). Raises TaxonomyError for an unknown
        code in the filter or a malformed cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise TaxonomyError("limit", f"must be 1-{MAX_PAGE}")
        query = select(EventRow).where(*filter_clauses(flt, self.taxonomy))
        if cursor:
            query = query.where(after_cursor(cursor))
        with self.sessions() as s:
            rows = builtins.list(s.scalars(query.order_by(*newest_first()).limit(limit + 1)))
            items = self._outs(s, rows[:limit])
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return EventPage(items=items, next_cursor=encode_cursor(last.occurred_at, last.id) if last else None)

    def check_filter(self, flt: EventFilter) -> None:
        """Raises TaxonomyError if the filter names a code the tables do not hold."""
        filter_clauses(flt, self.taxonomy)

    def snapshot(self, event_id: str) -> bytes | None:
        """The evidence JPEG; None if the event has none. Raises EventNotFound."""
        with self.sessions() as s:
            jpeg = s.scalar(select(EventSnapshotRow.jpeg).where(EventSnapshotRow.event_id == event_id))
            if jpeg is None and s.get(EventRow, event_id) is None:
                raise EventNotFound(event_id)
        return jpeg

    def last_seq(self) -> int:
        """The newest outbox seq (0 if none): where a new subscriber starts."""
        with self.sessions() as s:
            return int(s.scalar(select(func.max(EventChangeRow.seq))) or 0)

    def changes_after(self, seq: int, flt: EventFilter | None = None, limit: int = 100) -> builtins.list[EventChange]:
        """Outbox entries after `seq`, oldest first, of events matching the filter (as the
        events are now)."""
        query = (
            select(EventChangeRow, EventRow)
            .join(EventRow, EventRow.id == EventChangeRow.event_id)
            .where(EventChangeRow.seq > seq)
        )
        if flt is not None:
            query = query.where(*filter_clauses(flt, self.taxonomy))
        with self.sessions() as s:
            pairs = s.execute(query.order_by(EventChangeRow.seq).limit(limit)).all()
            outs = {o.id: o for o in self._outs(s, builtins.list({r.id: r for _, r in pairs}.values()))}
        return [EventChange(seq=c.seq, kind=c.kind, at=c.at, event=outs[r.id]) for c, r in pairs]

    def _outs(self, s: Session, rows: builtins.list[EventRow]) -> builtins.list[EventOut]:
        """Rows with their process records, fetched for the whole page in one query."""
        process: dict[str, builtins.list[ProcessRecord]] = {r.id: [] for r in rows}
        if rows:
            query = select(EventProcessRow).where(EventProcessRow.event_id.in_(builtins.list(process)))
            for p in s.scalars(query.order_by(EventProcessRow.id)):
                process[p.event_id].append(
                    ProcessRecord(
                        at=p.at,
                        actor=p.actor,
                        from_status=p.from_status,
                        to_status=p.to_status,
                        comment=p.comment,
                        close_reason=p.close_reason,
                    )
                )
        return [_out(r, process[r.id], self._names(r.minor_code)) for r in rows]

    def _names(self, minor_code: str) -> CategoryNames | None:
        try:
            major, minor = self.taxonomy.minor(minor_code)
        except TaxonomyError:  # a city's replaced table may have dropped an old code
            return None
        return CategoryNames(
            major_zh=major.name_zh, major_en=major.name_en, minor_zh=minor.name_zh, minor_en=minor.name_en
        )


def _out(row: EventRow, process: list[ProcessRecord], names: CategoryNames | None) -> EventOut:
    return EventOut(
        id=row.id,
        title=row.title,
        description=row.description,
        major_code=row.major_code,
        category_code=row.minor_code,
        category_names=names,
        level=row.level,
        source=row.source,
        source_ref=row.source_ref,
        status=row.status,
        close_reason=row.close_reason,
        region_code=row.region_code,
        address=row.address,
        lon=row.lon,
        lat=row.lat,
        camera_id=row.camera_id,
        device_code=row.device_code,
        occurred_at=row.occurred_at,
        reported_at=row.reported_at,
        updated_at=row.updated_at,
        evidence=Evidence.model_validate(row.evidence),
        has_snapshot=row.has_snapshot,
        incident_key=row.incident_key,
        process=process,
    )


def _conflict(key: str, first: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Idempotency-Key {key!r} was used for a different request ({first}); send a new key for a new event"
    )


def _request_hash(event: EventIn, snapshot_jpeg: bytes | None, incident_key: str | None) -> str:
    h = hashlib.sha256(event.model_dump_json().encode())
    h.update(b"\0" + hashlib.sha256(snapshot_jpeg or b"").digest() + (incident_key or "").encode())
    return h.hexdigest()
