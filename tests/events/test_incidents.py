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


def step(
    phase: str,
    ts: float,
    key: str = "gate/fire/1",
    category: str = "0401",
    title: str = "Fire at Gate",
    level: int = 2,
) -> IncidentUpdate:
    return IncidentUpdate(
        rule_id="fire",
        camera_id="gate",
        incident_key=key,
        phase=phase,  # type: ignore[arg-type]
        category_code=category,
        level=level,
        title=title,
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


def test_an_edited_title_or_level_shows_in_the_next_update(tmp_path):
    service, _ = make_service(tmp_path)
    recorder = IncidentRecorder(service)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    recorder.submit([step("update", T0 + 11, title="Window fire at Gate", level=1)], seen(T0 + 11))
    recorder.submit([step("close", T0 + 20)], None)
    wait_for(lambda: recorder.recorded == 3, what="three steps recorded")
    recorder.stop()
    (event,) = service.list(EventFilter()).items
    assert (event.title, event.level) == ("Window fire at Gate", 1)


def test_a_title_longer_than_an_event_title_is_cut_not_refused(tmp_path):
    service, _ = make_service(tmp_path)
    recorder = IncidentRecorder(service)
    long = "Fire at " + "Xincheng district, north-east corner of the central square " * 5  # camera name at its limit
    recorder.submit([step("open", T0 + 1, title=long)], seen(T0 + 1))
    recorder.submit([step("update", T0 + 11, title=long + "!")], seen(T0 + 11))
    wait_for(lambda: recorder.recorded + recorder.failed == 2, what="both steps handled")
    recorder.stop()
    assert recorder.failed == 0
    (event,) = service.list(EventFilter()).items
    assert len(event.title) == 200 and event.title.startswith("Fire at Xincheng") and event.title.endswith("…")


def test_a_busy_connection_pool_is_retried_not_a_lost_event(tmp_path):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    service, _ = make_service(tmp_path)
    create, calls = service.create, []

    def busy_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out")
        return create(*args, **kwargs)

    service.create = busy_once  # type: ignore[method-assign]
    recorder = IncidentRecorder(service, retry_initial=0.05)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    wait_for(lambda: recorder.recorded + recorder.failed == 1, what="the open handled")
    recorder.stop()
    assert recorder.failed == 0 and recorder.retries == 1
    assert len(service.list(EventFilter()).items) == 1


def test_a_queued_step_does_not_keep_the_analysed_frame_alive(tmp_path):
    import gc
    import weakref

    service, engine = make_service(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    recorder = IncidentRecorder(service, retry_initial=0.05, retry_max=0.1)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    sighting = seen(T0 + 11)
    image = weakref.ref(sighting.frame.image)
    recorder.submit([step("update", T0 + 11)], sighting)  # waits behind the open while the table is away
    wait_for(lambda: recorder.retries >= 1, what="a retry")
    del sighting
    gc.collect()
    assert image() is None  # a queue of 10,000 steps holds snapshots, not decoded frames
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    wait_for(lambda: recorder.recorded == 2, what="both steps recorded")
    recorder.stop()
    (event,) = service.list(EventFilter()).items
    jpeg = service.snapshot(event.id)
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")


def test_updates_piling_up_in_an_outage_never_push_out_an_open_or_a_close(tmp_path):
    service, engine = make_service(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    recorder = IncidentRecorder(service, capacity=20, retry_initial=0.05, retry_max=0.1)
    recorder.submit([step("open", T0 + 1)], seen(T0 + 1))
    wait_for(lambda: recorder.retries >= 1, what="the open retried")  # taken off the queue, retried
    for k in range(40):  # a long outage: the updates of a burning fire pile up
        recorder.submit([step("update", T0 + 10 + k)], seen(T0 + 10 + k))
    recorder.submit([step("open", T0 + 60, key="gate/fire/2")], seen(T0 + 60))  # another incident
    recorder.submit([step("close", T0 + 61)], None)
    assert recorder.dropped > 0
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    wait_for(lambda: recorder.pending() == 0 and recorder.recorded + recorder.failed == 43 - recorder.dropped)
    recorder.stop()
    events = {e.incident_key: e for e in service.list(EventFilter()).items}
    assert sorted(events) == ["gate/fire/1", "gate/fire/2"]
    ended = events["gate/fire/1"].evidence.ended_at
    assert ended is not None and ended.timestamp() == T0 + 61
