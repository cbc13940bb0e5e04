"""`SubscriptionService`: webhook subscriptions and their delivery queue in the database.

It turns outbox changes into deliveries (`dispatch`) and hands the worker one delivery at a
time per subscription (`claim`, `record`). All state is in the tables, so a restart, or a
second hub on the same database, picks up exactly where the last one stopped. It knows
nothing of HTTP; `events/delivery.py` does the sending.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from videohub.events.schema import EventFilter
from videohub.events.service import EventService
from videohub.events.subscription_models import DeliveryRow, SubscriptionRow
from videohub.events.subscription_schema import (
    DeliveryOut,
    DeliveryStatus,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from videohub.secrets import mask_url
from videohub.taxonomy import TaxonomyError

log = logging.getLogger("videohub.webhooks")

DISPATCH_BATCH = 100
MAX_DELIVERY_PAGE = 500


class SubscriptionNotFound(Exception):
    pass


class DeliveryNotFound(Exception):
    pass


class NotRetryable(Exception):
    """Only a failed delivery may be queued again (a pending one is queued already)."""


def sign(secret: str, body: bytes) -> str:
    """The X-Videohub-Signature value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """A delivery the worker holds for one attempt (its lease runs to `lease_until`)."""

    id: str
    subscription_id: str
    url: str
    secret: str
    payload: str
    seq: int
    kind: str
    attempt: int
    lease_until: datetime


@dataclass(frozen=True)
class Head:
    """The oldest pending delivery of an active subscription: the only one it may send next."""

    subscription_id: str
    next_attempt_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class SubscriptionService:
    def __init__(self, sessions: sessionmaker[Session], events: EventService) -> None:
        self.sessions = sessions
        self.events = events
        self._bad_filters: set[str] = set()  # subscriptions whose filter was reported broken
        self._listeners: builtins.list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Calls `listener` after a change that may give the worker work at once (a resumed
        subscription, a new filter, a delivery queued again)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # --- subscriptions ----------------------------------------------------------------
    def _check_filter(self, flt: EventFilter) -> None:
        try:
            self.events.check_filter(flt)
        except TaxonomyError as exc:
            # Name the field as the request body spells it.
            message = str(exc).split(": ", 1)[-1].split("; allowed")[0]
            raise TaxonomyError(f"filters.{exc.field}", message, exc.allowed) from None

    def create(self, sub: SubscriptionIn) -> SubscriptionOut:
        self._check_filter(sub.filters)
        now = _now()
        row = SubscriptionRow(
            id=uuid.uuid4().hex,
            url=sub.url,
            secret=sub.secret,
            description=sub.description,
            active=sub.active,
            filters=sub.filters.model_dump(mode="json", exclude_defaults=True),
            # It starts now: what happened before it existed is GET /api/v1/events' job.
            cursor=self.events.last_seq(),
            created_at=now,
            updated_at=now,
        )
        with self.sessions.begin() as s:
            s.add(row)
        log.info("webhook subscription %s created for %s", row.id, mask_url(row.url))
        return self.get(row.id)

    def list(self) -> builtins.list[SubscriptionOut]:
        with self.sessions() as s:
            rows = builtins.list(s.scalars(select(SubscriptionRow).order_by(SubscriptionRow.created_at)))
            return self._outs(s, rows)

    def get(self, sub_id: str) -> SubscriptionOut:
        with self.sessions() as s:
            row = s.get(SubscriptionRow, sub_id)
            if row is None:
                raise SubscriptionNotFound(sub_id)
            return self._outs(s, [row])[0]

    def update(self, sub_id: str, patch: SubscriptionPatch) -> SubscriptionOut:
        if patch.filters is not None:
            self._check_filter(patch.filters)
        values: dict[str, object] = {}
        for field in patch.model_fields_set:
            value = getattr(patch, field)
            values[field] = value.model_dump(mode="json", exclude_defaults=True) if field == "filters" else value
        with self.sessions.begin() as s:
            done = s.execute(
                update(SubscriptionRow).where(SubscriptionRow.id == sub_id).values(**values, updated_at=_now())
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise SubscriptionNotFound(sub_id)
        self._bad_filters.discard(sub_id)
        self._changed()
        log.info("webhook subscription %s changed (%s)", sub_id, ", ".join(sorted(values)) or "nothing")
        return self.get(sub_id)

    def delete(self, sub_id: str) -> None:
        """Removes the subscription and its queue (deliveries not yet made are dropped:
        the operator asked for no more)."""
        with self.sessions.begin() as s:
            s.execute(delete(DeliveryRow).where(DeliveryRow.subscription_id == sub_id))
            done = s.execute(delete(SubscriptionRow).where(SubscriptionRow.id == sub_id))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise SubscriptionNotFound(sub_id)
        log.info("webhook subscription %s deleted", sub_id)

    def deliveries(
        self, sub_id: str, status: DeliveryStatus | None = None, limit: int = 50
    ) -> builtins.list[DeliveryOut]:
        """The subscription's deliveries, newest change first."""
        query = select(DeliveryRow).where(DeliveryRow.subscription_id == sub_id)
        if status is not None:
            query = query.where(DeliveryRow.status == status)
        with self.sessions() as s:
            if s.get(SubscriptionRow, sub_id) is None:
                raise SubscriptionNotFound(sub_id)
            rows = s.scalars(query.order_by(DeliveryRow.seq.desc()).limit(limit))
            return [_delivery_out(r) for r in rows]

    def retry(self, sub_id: str, delivery_id: str) -> DeliveryOut:
        """Puts a failed delivery back in the queue with fresh attempts (an operator fixed
        the receiver). It takes its seq's place among the pending ones, so it usually goes
        next. Raises SubscriptionNotFound, DeliveryNotFound, NotRetryable."""
        with self.sessions.begin() as s:
            row = s.get(DeliveryRow, delivery_id)
            if row is None or row.subscription_id != sub_id:
                if s.get(SubscriptionRow, sub_id) is None:
                    raise SubscriptionNotFound(sub_id)
                raise DeliveryNotFound(delivery_id)
            if row.status != "failed":
                raise NotRetryable(f"delivery {delivery_id!r} is {row.status}; only a failed one is retried")
            row.status, row.attempts, row.next_attempt_at = "pending", 0, _now()
        log.info("webhook delivery %s of subscription %s queued again by request", delivery_id, sub_id)
        self._changed()
        return _delivery_out(row)

    def queue_counts(self) -> dict[tuple[str, str], int]:
        """(subscription id, 'pending' | 'failed') -> deliveries in that state."""
        with self.sessions() as s:
            return self._counts(s, None)

    def _counts(self, s: Session, sub_ids: builtins.list[str] | None) -> dict[tuple[str, str], int]:
        query = select(DeliveryRow.subscription_id, DeliveryRow.status, func.count()).where(
            DeliveryRow.status != "delivered"
        )
        if sub_ids is not None:
            query = query.where(DeliveryRow.subscription_id.in_(sub_ids))
        rows = s.execute(query.group_by(DeliveryRow.subscription_id, DeliveryRow.status)).all()
        return {(sub, status): n for sub, status, n in rows}

    def _outs(self, s: Session, rows: builtins.list[SubscriptionRow]) -> builtins.list[SubscriptionOut]:
        counts = self._counts(s, [r.id for r in rows]) if rows else {}
        return [
            SubscriptionOut(
                id=r.id,
                url=mask_url(r.url),
                filters=EventFilter.model_validate(r.filters),
                description=r.description,
                active=r.active,
                cursor=r.cursor,
                pending=counts.get((r.id, "pending"), 0),
                failed=counts.get((r.id, "failed"), 0),
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    # --- the queue --------------------------------------------------------------------
    def dispatch(self) -> int:
        """Queues a delivery for every change after each active subscription's cursor that
        its filter matches; returns how many were queued."""
        # The head first: every change up to it has committed (the outbox is written in seq
        # order), so a subscription already there has nothing to read, and one whose
        # filtered read comes back short may move its cursor to it without rescanning
        # changes its filter does not want.
        head = self.events.last_seq()
        with self.sessions() as s:
            subs = s.execute(
                select(SubscriptionRow.id, SubscriptionRow.filters, SubscriptionRow.cursor).where(
                    SubscriptionRow.active, SubscriptionRow.cursor < head
                )
            ).all()
        queued = 0
        for sub_id, filters, cursor in subs:
            try:
                queued += self._dispatch_one(sub_id, EventFilter.model_validate(filters), cursor, head)
            except (ValueError, OverflowError) as exc:
                # The city replaced its code tables and this filter names a code that is
                # gone (TaxonomyError), or a filter stored by an older version no longer
                # validates (ValidationError) or cannot be compared (OverflowError). Only
                # this subscription is held: raising would end the round, and every
                # subscription after it in the list would never be served. Its cursor
                # stays, so a PATCH of the filter loses nothing.
                if sub_id not in self._bad_filters:
                    self._bad_filters.add(sub_id)
                    log.error("webhook subscription %s is held: its filter is invalid now (%s)", sub_id, exc)
        return queued

    def _dispatch_one(self, sub_id: str, flt: EventFilter, cursor: int, head: int) -> int:
        queued = 0
        while True:
            changes = self.events.changes_after(cursor, flt, DISPATCH_BATCH)
            full = len(changes) == DISPATCH_BATCH
            new_cursor = changes[-1].seq if full else max([head, cursor, *(c.seq for c in changes)])
            if new_cursor == cursor:
                return queued
            now = _now()
            try:
                with self.sessions.begin() as s:
                    # Compare-and-set: if another hub sharing the database queued these
                    # changes first, this one backs off instead of queueing them twice.
                    done = s.execute(
                        update(SubscriptionRow)
                        .where(SubscriptionRow.id == sub_id, SubscriptionRow.cursor == cursor)
                        .values(cursor=new_cursor)
                    )
                    if done.rowcount != 1:  # type: ignore[attr-defined]
                        return queued
                    s.add_all(
                        DeliveryRow(
                            id=uuid.uuid4().hex,
                            subscription_id=sub_id,
                            seq=c.seq,
                            event_id=c.event.id,
                            kind=c.kind,
                            payload=c.model_dump_json(),
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                        for c in changes
                    )
            except IntegrityError:
                return queued  # a racing hub queued the same changes first
            queued += len(changes)
            cursor = new_cursor
            if not full:
                return queued

    def heads(self) -> builtins.list[Head]:
        """For each active subscription with pending deliveries, its oldest one's due time."""
        first = (
            select(DeliveryRow.subscription_id, func.min(DeliveryRow.seq).label("seq"))
            .where(DeliveryRow.status == "pending")
            .group_by(DeliveryRow.subscription_id)
            .subquery()
        )
        query = (
            select(DeliveryRow.subscription_id, DeliveryRow.next_attempt_at)
            .join(first, and_(DeliveryRow.subscription_id == first.c.subscription_id, DeliveryRow.seq == first.c.seq))
            .join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
            .where(SubscriptionRow.active)
        )
        with self.sessions() as s:
            return [Head(sub, at or _now()) for sub, at in s.execute(query).all()]

    def claim(self, sub_id: str, lease: float) -> Claimed | None:
        """Takes the subscription's oldest pending delivery for one attempt, if it is due;
        None if there is none, it is not due, or another worker holds it."""
        now = _now()
        with self.sessions() as s:
            row = s.execute(
                select(DeliveryRow, SubscriptionRow.url, SubscriptionRow.secret)
                .join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
                .where(DeliveryRow.subscription_id == sub_id, DeliveryRow.status == "pending", SubscriptionRow.active)
                .order_by(DeliveryRow.seq)
                .limit(1)
            ).first()
        if row is None:
            return None
        delivery, url, secret = row
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        lease_until = now + timedelta(seconds=lease)
        with self.sessions.begin() as s:
            # Compare-and-set on the due time read above: of two workers only one wins, and
            # a worker that dies mid-attempt leaves it due again when the lease runs out.
            done = s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == delivery.id,
                    DeliveryRow.status == "pending",
                    DeliveryRow.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=lease_until)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return Claimed(
            id=delivery.id,
            subscription_id=sub_id,
            url=url,
            secret=secret,
            payload=delivery.payload,
            seq=delivery.seq,
            kind=delivery.kind,
            attempt=delivery.attempts + 1,
            lease_until=lease_until,
        )

    def record(
        self,
        claimed: Claimed,
        ok: bool,
        status_code: int | None,
        error: str | None,
        retry_at: datetime | None,
    ) -> None:
        """Stores the outcome of an attempt: delivered, failed for good (`retry_at` None),
        or pending until `retry_at`."""
        now = _now()
        values: dict[str, object] = {
            "attempts": claimed.attempt,
            "last_attempt_at": now,
            "last_status_code": status_code,
            "last_error": None if ok else (error or "")[:1000],
        }
        if ok:
            values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        elif retry_at is None:
            values.update(status="failed", next_attempt_at=None)
        else:
            values.update(next_attempt_at=retry_at)
        with self.sessions.begin() as s:
            # Only while the lease is ours: a worker that overran it has been replaced.
            s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == claimed.id,
                    DeliveryRow.status == "pending",
                    DeliveryRow.next_attempt_at == claimed.lease_until,
                )
                .values(**values)
            )

    def prune(self, older_than: datetime) -> int:
        """Deletes delivered rows delivered before `older_than` (failed ones stay for operators)."""
        with self.sessions.begin() as s:
            done = s.execute(
                delete(DeliveryRow).where(DeliveryRow.status == "delivered", DeliveryRow.delivered_at < older_than)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]


def _delivery_out(r: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        id=r.id,
        subscription_id=r.subscription_id,
        seq=r.seq,
        event_id=r.event_id,
        kind=r.kind,
        status=r.status,
        attempts=r.attempts,
        last_status_code=r.last_status_code,
        last_error=r.last_error,
        next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
        last_attempt_at=r.last_attempt_at,
        created_at=r.created_at,
        delivered_at=r.delivered_at,
    )
