"""Rules on sequences of detections: persistence, counts, dwell, lines, cooldown, and one
incident = one open, some updates, one close. Frames are (time, detections); no video."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from videohub.analytics.rules import CameraRules, IncidentUpdate
from videohub.analytics.spec import RuleSpec
from videohub.detect.base import Detection

SIZE = (100, 100)


def at(x: float, y: float, label: str = "person", score: float = 0.9, w: float = 10, h: float = 20) -> Detection:
    """A detection standing at pixel (x, y) (its bottom-centre) of a 100x100 frame."""
    return Detection(label, 0, score, (x - w / 2, y - h, x + w / 2, y))


def rule(**fields: Any) -> RuleSpec:
    base: dict[str, Any] = {"id": "r", "kind": "presence", "category_code": "test", "title": "{count} {label}"}
    return RuleSpec.model_validate(base | fields)


Frames = Iterable[tuple[float, list[Detection]]]


def run(rules: CameraRules | list[RuleSpec], frames: Frames) -> list[IncidentUpdate]:
    cam = rules if isinstance(rules, CameraRules) else CameraRules("cam", rules)
    out: list[IncidentUpdate] = []
    for ts, dets in frames:
        out += cam.update(ts, dets, SIZE)
    return out


def timeline(fps: float, seconds: float, dets: Callable[[int, float], list[Detection]], t0: float = 0.0) -> Frames:
    for i in range(round(fps * seconds)):
        ts = t0 + i / fps
        yield ts, dets(i, ts)


def phases(steps: list[IncidentUpdate]) -> list[str]:
    return [s.phase for s in steps]


FIRE = [at(50, 50, "fire")]


# --- persistence ----------------------------------------------------------------------------
def test_a_single_flicker_raises_nothing():
    spec = rule(labels=["fire"])  # default: 3 of the last 5 frames
    assert run([spec], timeline(5, 10, lambda i, _: FIRE if i == 7 else [])) == []
    # two hits in five frames still are not three
    assert run([spec], timeline(5, 10, lambda i, _: FIRE if i in (7, 9) else [])) == []


def test_n_of_m_frames_raise_with_gaps_and_start_at_the_first_hit():
    spec = rule(labels=["fire"], persistence={"frames": 3, "of_frames": 5})
    steps = run([spec], timeline(5, 4, lambda i, _: FIRE if i in (5, 7, 9) else []))
    assert phases(steps) == ["open"]
    assert steps[0].ts == pytest.approx(9 / 5) and steps[0].started_at == pytest.approx(5 / 5)


def test_persistence_starts_over_after_the_camera_was_away():
    spec = rule(labels=["fire"])  # 3 of the last 5 frames
    # Two sightings, a 10-minute outage, one more sighting: no incident dated 10 minutes back.
    frames = [(0.0, FIRE), (0.2, FIRE), (600.0, FIRE), (600.2, [])]
    assert run([spec], frames) == []
    # Three sightings after the gap do raise, dated after it.
    (opened,) = run([spec], [*frames[:3], (600.2, FIRE), (600.4, FIRE)])
    assert opened.phase == "open" and opened.started_at == 600.0
    # A slow camera (a frame a minute) is no gap: its usual interval is a minute.
    slow = [(60.0 * i, FIRE) for i in range(3)]
    assert phases(run([spec], slow)) == ["open"]


def test_persistence_in_seconds():
    spec = rule(labels=["fire"], persistence={"frames": 1, "of_frames": 1, "seconds": 3})
    assert run([spec], timeline(5, 2.8, lambda i, _: FIRE)) == []  # 2.6 s held: not yet
    steps = run([spec], timeline(5, 6, lambda i, _: FIRE))
    assert phases(steps)[0] == "open" and steps[0].ts == pytest.approx(3.0)


# --- count (crowd) ---------------------------------------------------------------------------
ZONE = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]  # lower half of the picture


def crowd(n: int, outside: int = 0) -> list[Detection]:
    return [at(10 + 15 * k, 80) for k in range(n)] + [at(10 + 15 * k, 30) for k in range(outside)]


def test_crowd_needs_k_people_in_the_zone_for_t_seconds():
    spec = rule(kind="count", zone=ZONE, labels=["person"], min_count=5, persistence={"seconds": 3}, update_interval=2)
    assert run([spec], timeline(5, 20, lambda i, _: crowd(4, outside=3))) == []  # 7 people, 4 in the zone
    assert run([spec], timeline(5, 2.8, lambda i, _: crowd(5))) == []  # 5 people, but for 2.6 s only
    steps = run([spec], timeline(5, 10, lambda i, _: crowd(5 if i < 25 else 6)))
    assert steps[0].phase == "open" and steps[0].count == 5 and len(steps[0].detections) == 5
    # default persistence 3 of 5: N-of-M holds from the third frame (0.4 s), then 3 s more
    assert steps[0].ts == pytest.approx(3.4) and steps[0].started_at == 0.0
    assert steps[0].title == "5 person"
    assert [s.count for s in steps if s.phase == "update"][-1] == 6


def test_min_score_and_labels_filter():
    spec = rule(labels=["fire"], min_score=0.5, persistence={"frames": 1, "of_frames": 1})
    assert run([spec], timeline(5, 2, lambda i, _: [at(50, 50, "fire", score=0.4), at(50, 50, "smoke")])) == []
    assert phases(run([spec], timeline(5, 2, lambda i, _: [at(50, 50, "fire", score=0.6)]))) == ["open"]


# --- dwell -----------------------------------------------------------------------------------
PARKING = [(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)]  # no-parking box, bottom right


def car(x: float, y: float = 80) -> Detection:
    return at(x, y, "car", w=20, h=12)


def test_a_parked_car_raises_after_the_dwell_time_and_one_driving_through_does_not():
    spec = rule(kind="dwell", zone=PARKING, labels=["car"], dwell_seconds=30, title="{label} parked {dwell}s")
    # Parked at (75, 80) from t=0, with the detector missing it in every 4th frame.
    steps = run([spec], timeline(2, 60, lambda i, _: [] if i % 4 == 3 else [car(75)]))
    assert phases(steps)[0] == "open"
    assert steps[0].ts == pytest.approx(30.0) and steps[0].title == "car parked 30s"
    assert steps[0].detections[0].track_id is not None
    # Driving slowly left to right: 3 px per frame at 2 fps crosses the 50 px box in ~17 s.
    assert run([spec], timeline(2, 40, lambda i, _: [car(3 * i)])) == []


def test_a_parked_car_scoring_below_min_score_now_and_then_keeps_its_dwell_time():
    spec = rule(kind="dwell", zone=PARKING, labels=["car"], min_score=0.5, dwell_seconds=30)

    def frames(i: int, ts: float) -> list[Detection]:
        # Parked in the zone all along; every 4th frame the detector is less sure of it.
        return [at(75, 80, "car", score=0.45 if i % 4 == 3 else 0.8, w=20, h=12)]

    steps = run([spec], timeline(2, 40, frames))
    assert phases(steps)[:1] == ["open"] and steps[0].ts == pytest.approx(30.0)


def test_dwell_restarts_when_the_object_leaves_the_zone():
    spec = rule(kind="dwell", zone=PARKING, labels=["car"], dwell_seconds=10)

    def frames(i: int, ts: float) -> list[Detection]:
        # 8 s in, then 1 s with its bottom-centre just outside, then back for 8 s: never 10 s in a row
        return [car(48 if 16 <= i < 18 else 52)]

    assert run([spec], timeline(2, 17, frames)) == []


# --- line ------------------------------------------------------------------------------------
LINE = {"start": (0.0, 0.5), "end": (1.0, 0.5), "direction": "left_to_right"}  # counts moving down


def walker(x: float, y0: float, dy: float) -> Callable[[int, float], list[Detection]]:
    return lambda i, _: [at(x, y0 + dy * i)]


def test_wrong_way_crossing_counts_only_in_its_direction():
    spec = rule(kind="line", line=LINE, labels=["person"], title="{count} crossed")
    steps = run([spec], timeline(5, 4, walker(50, 20, 4)))  # walks down across y=50
    assert phases(steps)[0] == "open" and steps[0].count == 1 and steps[0].detections[0].label == "person"
    assert run([spec], timeline(5, 4, walker(50, 90, -4))) == []  # walks up: allowed direction


def test_line_count_threshold_within_a_window():
    spec = rule(kind="line", line=LINE, labels=["person"], min_count=3, window=20)

    def people(spacing: float) -> Callable[[int, float], list[Detection]]:
        # person k starts walking down at k*spacing seconds, 10 px per frame from y=20
        def f(i: int, ts: float) -> list[Detection]:
            return [at(10 + 30 * k, 20 + 10 * (i - k * spacing * 5)) for k in range(3) if 0 <= i - k * spacing * 5 < 8]

        return f

    assert phases(run([spec], timeline(5, 30, people(5))))[:1] == ["open"]  # three within 20 s
    assert run([spec], timeline(5, 60, people(15))) == []  # 0 s, 15 s, 30 s: never three in 20 s


# --- the lifecycle ---------------------------------------------------------------------------
def test_one_incident_is_one_open_some_updates_and_one_close():
    spec = rule(labels=["fire"], update_interval=10, close_after=2, cooldown=30)
    # 60 s of fire at 5 fps with one-frame detection gaps every 3 s, then 10 s of nothing.
    steps = run([spec], timeline(5, 70, lambda i, ts: FIRE if ts < 60 and i % 15 != 0 else []))
    assert phases(steps) == ["open"] + ["update"] * 5 + ["close"]
    assert len({s.incident_key for s in steps}) == 1
    times = [s.ts for s in steps]
    assert all(b - a >= 10 - 1e-9 for a, b in zip(times[:-2], times[1:-1], strict=True))
    close = steps[-1]
    assert close.last_seen == pytest.approx(59.8) and 60 + 2 <= close.ts < 62.5
    assert close.detections and close.started_at == steps[0].started_at


def test_a_short_gap_does_not_close_when_persistence_is_one_frame():
    spec = rule(labels=["fire"], persistence={"frames": 1, "of_frames": 1}, close_after=2, update_interval=100)
    steps = run([spec], timeline(5, 20, lambda i, _: [] if i in (20, 40, 41, 42) else FIRE))
    assert phases(steps) == ["open"]


def test_cooldown_after_close_then_a_new_incident():
    spec = rule(labels=["fire"], close_after=1, cooldown=20, update_interval=100)
    cam = CameraRules("cam", [spec])

    def burst(t0: float) -> Frames:
        yield from timeline(5, 3, lambda i, _: FIRE, t0=t0)
        yield from timeline(5, 3, lambda i, _: [], t0=t0 + 3)

    first = run(cam, burst(0))
    assert phases(first) == ["open", "close"]
    assert run(cam, burst(10)) == []  # fire again 10 s later: inside the 20 s cooldown
    again = run(cam, burst(40))
    assert phases(again) == ["open", "close"] and again[0].incident_key != first[0].incident_key


def test_evidence_is_plain_json():
    spec = rule(labels=["fire"], persistence={"frames": 1, "of_frames": 1})
    step = CameraRules("cam", [spec]).update(3.0, FIRE, SIZE)[0]
    evidence = json.loads(json.dumps(step.evidence()))
    assert evidence["rule"] == "r" and evidence["count"] == 1 and evidence["started_at"] == 3.0
    assert evidence["detections"] == [{"label": "fire", "score": 0.9, "box": [45, 30, 55, 50], "track_id": 1}]


def test_frames_out_of_order_are_ignored():
    spec = rule(labels=["fire"], persistence={"frames": 1, "of_frames": 1})
    cam = CameraRules("cam", [spec])
    assert phases(cam.update(10.0, FIRE, SIZE)) == ["open"]
    assert cam.update(5.0, [], SIZE) == []


# --- changing rules --------------------------------------------------------------------------
def test_replace_rules_keeps_ongoing_incidents_of_unchanged_conditions():
    fire = rule(id="fire", labels=["fire"], persistence={"frames": 1, "of_frames": 1}, update_interval=1)
    smoke = rule(id="smoke", labels=["smoke"], persistence={"frames": 1, "of_frames": 1})
    cam = CameraRules("cam", [fire, smoke], camera_name="Gate")
    both = [at(50, 50, "fire"), at(20, 50, "smoke")]
    opened = cam.update(0.0, both, SIZE)
    assert sorted(s.rule_id for s in opened) == ["fire", "smoke"]

    renamed = fire.model_copy(update={"title": "Fire at {camera}", "level": 1})
    moved = smoke.model_copy(update={"min_score": 0.95})  # a new condition: a new incident
    closed = cam.replace_rules([renamed, moved])
    assert [(s.rule_id, s.phase) for s in closed] == [("smoke", "close")]
    steps = cam.update(1.0, both, SIZE)
    assert [(s.rule_id, s.phase, s.title, s.level) for s in steps] == [("fire", "update", "Fire at Gate", 1)]
    assert steps[0].incident_key == opened[0].incident_key

    assert [(s.rule_id, s.phase) for s in cam.replace_rules([])] == [("fire", "close")]
    with pytest.raises(ValueError, match="unique"):
        cam.replace_rules([fire, fire])
