"""`IncidentRecorder`: the incidents of the analytics rules, recorded as standard events.

One incident is one event: its 'open' creates the event (source `ai_video`, the camera, the
rule's category, level and title, the detections and a snapshot of the analysed frame with
their boxes drawn), its 'update's refresh the evidence (last seen, count, a newer snapshot)
and its 'close' notes when the condition ended. The status is the people's handling
process and is never touched here.

Steps arrive in the detection engines' threads, which must not wait for a database: they are
queued (bounded) and written by one worker thread, in order. A write that fails because the
database is unavailable is retried with a capped backoff, the step staying at the head of the
queue, so a database restart loses nothing; the event's creation carries the incident key as
its idempotency key, so a retried creation never makes a second event. A step that can never
succeed (a category the code tables do not have) is logged and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
from sqlalchemy.exc import OperationalError

from videohub.analytics.rulebook import Sighting
from videohub.analytics.rules import IncidentUpdate
from videohub.detect.draw import draw_detections
from videohub.events.schema import EventIn, Evidence, EvidenceDetection
from videohub.events.service import EventNotFound, EventService
from videohub.taxonomy import TaxonomyError

log = logging.getLogger("videohub.events")

SOURCE = "ai_video"
ACTOR = "videohub analytics"
SNAPSHOT_QUALITY = 85


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def snapshot_jpeg(step: IncidentUpdate, seen: Sighting | None) -> bytes | None:
    """The analysed frame with the detections that made the rule fire drawn on it."""
    if seen is None:
        return None
    ok, buf = cv2.imencode(
        ".jpg", draw_detections(seen.frame.image, step.detections), [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY]
    )
    return buf.tobytes() if ok else None


def _detections(step: IncidentUpdate) -> list[EvidenceDetection]:
    return [
        EvidenceDetection(label=d.label, score=min(1.0, max(0.0, d.score)), box=d.box, track_id=d.track_id)
        for d in step.detections[:1000]
    ]


@dataclass
class _Item:
    step: IncidentUpdate
    seen: Sighting | None
    jpeg: bytes | None = None  # rendered once, so a retried creation sends the same request
    rendered: bool = False


class IncidentRecorder:
    def __init__(
        self,
        events: EventService,
        *,
        capacity: int = 10_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._events = events
        self._queue: queue.Queue[_Item | None] = queue.Queue(capacity)
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._event_ids: dict[str, str] = {}  # incident key -> event id, for the open incidents
        self._stop = threading.Event()
        self.recorded = 0  # steps written
        self.dropped = 0  # steps lost to a full queue (the database has been down a long time)
        self.failed = 0  # steps refused for good (e.g. an unknown category)
        self.retries = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="incident-recorder", daemon=True)
        self._thread.start()

    def submit(self, steps: list[IncidentUpdate], seen: Sighting | None) -> None:
        """Queues the steps of one frame; never blocks (a rules sink runs in an engine thread)."""
        for step in steps:
            try:
                self._queue.put_nowait(_Item(step, seen))
            except queue.Full:
                self.dropped += 1
                log.error("incident queue full: step %s of %s dropped", step.phase, step.incident_key)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            delay = self._retry_initial
            while not self._stop.is_set():
                try:
                    self._record(item)
                    self.recorded += 1
                    break
                except OperationalError as exc:  # database locked or unreachable: try again
                    self.retries += 1
                    self.last_error = str(exc.orig or exc).splitlines()[0]
                    log.warning("incident %s: database unavailable (%s); retrying", item.step.incident_key, exc.orig)
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._retry_max)
                except (TaxonomyError, ValueError) as exc:
                    self.failed += 1
                    self.last_error = str(exc)
                    log.error("incident %s of rule %s not recorded: %s", item.step.incident_key, item.step.rule_id, exc)
                    break
                except Exception:
                    self.failed += 1
                    log.exception("incident %s not recorded", item.step.incident_key)
                    break

    def _record(self, item: _Item) -> None:
        step = item.step
        if not item.rendered:
            item.jpeg = snapshot_jpeg(step, item.seen) if step.phase != "close" else None
            item.rendered = True
        model = item.seen.model if item.seen else None
        if step.phase == "open":
            event = EventIn(
                title=step.title,
                description=f"Raised by rule {step.rule_id!r} of camera {step.camera_id!r}"
                + (f" on the detections of model {model!r}." if model else "."),
                category_code=step.category_code,
                level=step.level,
                source=SOURCE,
                source_ref=step.incident_key,
                camera_id=step.camera_id,
                occurred_at=_at(step.started_at),
                reported_at=_at(step.ts),
                evidence=Evidence(
                    model=model,
                    rule_id=step.rule_id,
                    detections=_detections(step),
                    count=step.count,
                    started_at=_at(step.started_at),
                    last_seen_at=_at(step.last_seen),
                ),
            )
            out, _created = self._events.create(
                event,
                ACTOR,
                idempotency_key=f"incident:{step.incident_key}",
                snapshot_jpeg=item.jpeg,
                incident_key=step.incident_key,
            )
            self._event_ids[step.incident_key] = out.id
            return
        event_id = self._event_ids.get(step.incident_key)
        if event_id is None:
            found = self._events.find_incident(step.incident_key)
            if found is None:
                # Its opening was refused (see the log): there is no event to update.
                raise ValueError(f"no event was recorded for incident {step.incident_key}")
            event_id = found.id
        if step.phase == "update":
            evidence = Evidence(detections=_detections(step), count=step.count, last_seen_at=_at(step.last_seen))
        else:
            evidence = Evidence(last_seen_at=_at(step.last_seen), ended_at=_at(step.ts))
        try:
            self._events.update_incident(event_id, evidence, snapshot_jpeg=item.jpeg)
        except EventNotFound:
            raise ValueError(f"the event of incident {step.incident_key} was deleted") from None
        if step.phase == "close":
            self._event_ids.pop(step.incident_key, None)

    def stop(self, timeout: float = 5.0) -> None:
        """Writes what is queued (for up to `timeout` seconds), then stops."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join(1.0)
