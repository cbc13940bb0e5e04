"""Camera rules over real HTTP: read and replaced through the camera API and
/api/v1/cameras/{id}/rules, applied at once to the running rule book, never reconnecting
the camera."""

from __future__ import annotations

import time

import numpy as np

from tests.conftest import wait_for
from videohub.analytics.rulebook import Sighting
from videohub.analytics.rules import IncidentUpdate
from videohub.detect.base import Detection
from videohub.streams.frame import Frame

FIRE = {
    "id": "fire",
    "kind": "presence",
    "labels": ["fire"],
    "persistence": {"frames": 1, "of_frames": 1},
    "update_interval": 1,
    "category_code": "0401",
    "title": "Fire at {camera}",
}
CROWD = {
    "id": "crowd",
    "kind": "count",
    "zone": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
    "min_count": 10,
    "category_code": "1101",
}
FLAME = [Detection("fire", 0, 0.9, (40, 40, 60, 60))]
MODELS = {"fire": {"kind": "fire"}}
# One real sample now, the next in 100 s: the frames the test feeds in by hand (from 1000 s
# ahead) are the newest the rules see.
DETECT = {"models": ["fire"], "fps": 0.01}


def frame(ahead: float) -> Frame:
    return Frame("c", time.time() + 1000 + ahead, 1, np.zeros((100, 100, 3), np.uint8))


def test_rule_changes_apply_at_once_and_keep_the_connection(cameras, live_hub):
    cameras.add("a")
    hub = live_hub([], models=MODELS)
    http = hub.http
    camera = {"id": "c", "name": "Gate", "stream_url": cameras.url("a"), "detect": DETECT, "rules": [FIRE]}
    r = http.post("/api/v1/cameras", json=camera)
    assert r.status_code == 201, r.text
    assert [x["id"] for x in r.json()["rules"]] == ["fire"]
    wait_for(lambda: http.get("/api/v1/cameras/c/status").json()["state"] == "online", what="online")
    since = http.get("/api/v1/cameras/c/status").json()["connected_since"]

    book = hub.runtime.rules
    sink: list[IncidentUpdate] = []

    def collect(steps: list[IncidentUpdate], _seen: Sighting | None) -> None:
        sink.extend(steps)

    book.set_sink(collect)
    rules = book.get("c", "fire")
    assert rules is not None
    opened = book.update("c", "fire", frame(0), FLAME)
    assert [(s.phase, s.title) for s in opened] == [("open", "Fire at Gate")]

    # Same condition, new title, one rule more: the ongoing incident carries on.
    r = http.put("/api/v1/cameras/c/rules", json=[FIRE | {"title": "Flames at {camera}"}, CROWD])
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()] == ["fire", "crowd"]
    assert [x["id"] for x in http.get("/api/v1/cameras/c/rules").json()] == ["fire", "crowd"]
    assert book.get("c", "fire") is rules and [x.id for x in rules.rules] == ["fire", "crowd"]
    steps = book.update("c", "fire", frame(1), FLAME)
    assert [(s.phase, s.title, s.incident_key) for s in steps] == [("update", "Flames at Gate", opened[0].incident_key)]

    # The camera API sets rules too; the removed rule's incident is closed for the sink.
    r = http.patch("/api/v1/cameras/c", json={"rules": [CROWD]})
    assert r.status_code == 200 and [x["id"] for x in r.json()["rules"]] == ["crowd"]
    assert [(s.rule_id, s.phase) for s in sink[-1:]] == [("fire", "close")]

    status = http.get("/api/v1/cameras/c/status").json()
    assert status["connected_since"] == since and status["reconnects"] == 0  # never reconnected
    assert cameras.sessions("a") == 1

    r = http.put("/api/v1/cameras/c/rules", json=[])
    assert r.status_code == 200 and r.json() == [] and book.get("c", "fire") is None


def test_rules_api_errors(live_hub):
    fixed = {"id": "fixed", "stream_url": "rtsp://127.0.0.1:1/x", "detect": DETECT, "rules": [FIRE]}
    hub = live_hub([fixed], models=MODELS)
    http = hub.http
    assert [x["id"] for x in http.get("/api/v1/cameras/fixed/rules").json()] == ["fire"]
    r = http.put("/api/v1/cameras/fixed/rules", json=[CROWD])
    assert r.status_code == 409 and "test.yaml" in r.json()["detail"]
    assert [x.id for x in hub.runtime.rules.get("fixed", "fire").rules] == ["fire"]  # unchanged

    c = {"id": "c", "stream_url": "rtsp://127.0.0.1:1/y", "detect": DETECT}
    assert http.post("/api/v1/cameras", json=c).status_code == 201
    bad = CROWD | {"zone": [[0, 0], [1, 1]]}
    r = http.put("/api/v1/cameras/c/rules", json=[bad])
    assert r.status_code == 422 and "zone" in r.json()["detail"] and "at least 3 points" in r.json()["detail"]
    r = http.patch("/api/v1/cameras/c", json={"rules": [CROWD | {"zone": [[0, 0], [2, 0], [1, 1]]}]})
    assert r.status_code == 422 and "rules.0.zone" in r.json()["detail"]
    r = http.put("/api/v1/cameras/c/rules", json=[FIRE, FIRE])
    assert r.status_code == 422 and "used twice" in r.json()["detail"]
    r = http.post("/api/v1/cameras", json={"id": "d", "stream_url": "rtsp://h/x", "rules": [FIRE | {"level": 9}]})
    assert r.status_code == 422 and "level" in r.json()["detail"]
    r = http.put("/api/v1/cameras/c/rules", json=[FIRE | {"category_code": "fire"}])
    assert r.status_code == 422 and r.json()["field"] == "rules[0].category_code" and "0401" in r.json()["allowed"]
    r = http.patch("/api/v1/cameras/c", json={"rules": [CROWD | {"model": "cars"}]})
    assert r.status_code == 422 and "looks at model 'cars'" in r.json()["detail"]
    assert http.get("/api/v1/cameras/c/rules").json() == []  # nothing half-applied
    assert http.get("/api/v1/cameras/nope/rules").status_code == 404
    assert http.put("/api/v1/cameras/nope/rules", json=[]).status_code == 404
