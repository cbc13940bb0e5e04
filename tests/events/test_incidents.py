"""IncidentRecorder: one event per incident, its evidence kept up to date, nothing lost while
the database is away, and a step that can never be recorded does not hold up the others."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from tests.conftest import wait_for
from videohub.analytics.rulebook import Sighting
from videohub.analytics.rules import IncidentUpdate
from videohub.db import init_db, make_engine
from videohub.detect.base import Detection
from videohub.events.incidents import IncidentRecorder
from videohub.events.schema import EventFilter
from videohub.events.service import CameraFacts, EventService
from videohub.streams.frame import Frame
from videohub.taxonomy import load_taxonomy

T0 = 1_800_000_000.0
FLAME = Detection("fire", 0, 0.8, (40.0, 10.0, 70.0, 30.0), track_id=3)


def step(phase: str, ts: float, key: str = "gate/fire/1", category: str = "0401") -> IncidentUpdate:
    return IncidentUpdate(
        rule_id="fire",
        camera_id="gate",
        incident_key=key,
        phase=phase,  # type: ignore[arg-type]
        category_code=category,
        level=2,
        title="Fire at Gate",
        detections=[FLAME],
        count=1,
        started_at=T0,
        ts=ts,
        last_seen=ts,
    )


def seen(ts: float) -> Sighting:
    return Sighting("fire", Frame("gate", ts, 1, np.full((48, 96, 3), 90, np.uint8)))


def make_service(tmp_path: Path) -> tuple[EventService, Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/events.db")
    facts = CameraFacts(device_code=None, region_code="150102", lon=None, lat=None)
    return EventService(init_db(engine), load_taxonomy(), cameras={"gate": facts}.get), engine


def test_open_update_close_make_one_event_with_evidence(tmp_path):
    service, _ = make_service(tmp_path)
    recorder = IncidentRecorder(service)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    recorder.submit([step("update", T0 + 11)], seen(T0 + 11))
    recorder.submit([step("close", T0 + 20)], None)
    wait_for(lambda: recorder.recorded == 3, what="three steps recorded")
    recorder.stop()
    (event,) = service.list(EventFilter()).items
    assert event.title == "Fire at Gate" and event.source == "ai_video" and event.region_code == "150102"
    assert event.incident_key == "gate/fire/1" and event.occurred_at.timestamp() == T0
    ev = event.evidence
    assert ev.model == "fire" and ev.rule_id == "fire" and ev.detections[0].track_id == 3
    assert ev.last_seen_at is not None and ev.last_seen_at.timestamp() == T0 + 20
    assert ev.ended_at is not None and ev.ended_at.timestamp() == T0 + 20
    jpeg = service.snapshot(event.id)
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")


def test_a_database_outage_delays_but_loses_nothing(tmp_path):
    service, engine = make_service(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    recorder = IncidentRecorder(service, retry_initial=0.05, retry_max=0.2)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    recorder.submit([step("update", T0 + 11)], seen(T0 + 11))
    wait_for(lambda: recorder.retries >= 2, what="retries while the table is away")
    assert recorder.recorded == 0 and recorder.pending() == 1  # the update waits behind the open
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    wait_for(lambda: recorder.recorded == 2, what="both steps recorded once the table is back")
    recorder.stop()
    (event,) = service.list(EventFilter()).items
    assert event.evidence.last_seen_at is not None and event.evidence.last_seen_at.timestamp() == T0 + 11


def test_an_unknown_category_is_refused_and_the_rest_go_on(tmp_path, caplog):
    service, _ = make_service(tmp_path)
    recorder = IncidentRecorder(service)
    with caplog.at_level(logging.ERROR, logger="videohub.events"):
        recorder.submit([step("open", T0, key="a", category="9999"), step("update", T0 + 1, key="a")], seen(T0))
        recorder.submit([step("open", T0 + 2, key="b")], seen(T0 + 2))
        wait_for(lambda: recorder.recorded + recorder.failed == 3, what="all steps handled")
    recorder.stop()
    assert recorder.failed == 2 and recorder.recorded == 1  # the open, and the update with no event
    assert "9999" in caplog.text
    assert [e.incident_key for e in service.list(EventFilter()).items] == ["b"]
