"""The rule book follows camera specs: rules start, change in place, and stop with their
incidents closed; each rule looks at one model's detections; a failing sink never stops the
analytics."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from videohub.analytics.rulebook import RuleBook, Sighting, assign_models, check_rule_codes
from videohub.analytics.rules import IncidentUpdate
from videohub.analytics.spec import RuleSpec
from videohub.config import CameraSpec
from videohub.detect.base import Detection
from videohub.streams.frame import Frame
from videohub.taxonomy import TaxonomyError, load_taxonomy

FIRE: dict[str, Any] = {
    "id": "fire",
    "kind": "presence",
    "labels": ["fire"],
    "persistence": {"frames": 1, "of_frames": 1},
    "category_code": "0401",
}
CROWD: dict[str, Any] = {"id": "crowd", "kind": "count", "labels": ["person"], "min_count": 2, "category_code": "1101"}
FLAME = [Detection("fire", 0, 0.9, (40, 40, 60, 60))]


def camera(**fields: Any) -> CameraSpec:
    return CameraSpec.model_validate({"id": "c", "stream_url": "rtsp://h/x", "detect": {"models": ["fire"]}} | fields)


def frame(ts: float) -> Frame:
    return Frame("c", ts, int(ts * 10), np.zeros((100, 100, 3), np.uint8))


class Sink:
    def __init__(self) -> None:
        self.steps: list[IncidentUpdate] = []
        self.seen: list[Sighting | None] = []

    def __call__(self, steps: list[IncidentUpdate], seen: Sighting | None) -> None:
        self.steps += steps
        self.seen += [seen] * len(steps)


def test_specs_start_change_and_stop_rules():
    got = Sink()
    book = RuleBook(got)
    book.apply(camera(), "c")
    assert book.get("c", "fire") is None and book.update("c", "fire", frame(0.0), FLAME) == []  # no rules

    book.apply(camera(rules=[FIRE]), "c")
    assert [s.phase for s in book.update("c", "fire", frame(1.0), FLAME)] == ["open"]
    assert got.seen[0] is not None and got.seen[0].model == "fire" and got.seen[0].frame.ts == 1.0
    rules = book.get("c", "fire")
    book.apply(camera(name="Renamed", rules=[FIRE]), "c")
    assert book.get("c", "fire") is rules and len(got.steps) == 1  # unchanged rules: same state, no close

    book.apply(camera(enabled=False, rules=[FIRE]), "c")  # a disabled camera raises nothing
    assert book.get("c", "fire") is None
    assert [(s.rule_id, s.phase) for s in got.steps] == [("fire", "open"), ("fire", "close")]
    assert got.seen[-1] is None  # a close without a frame

    book.apply(camera(rules=[FIRE | {"enabled": False}]), "c")
    assert book.get("c", "fire") is None
    book.apply(camera(rules=[FIRE]), "c")
    book.update("c", "fire", frame(2.0), FLAME)
    book.apply(None, "c")  # camera removed
    assert book.get("c", "fire") is None and got.steps[-1].phase == "close"


def test_each_rule_looks_at_one_model():
    labels = {"fire": ["fire", "smoke"], "people": ["person"]}
    spec = camera(detect={"models": ["fire", "people"]}, rules=[CROWD, FIRE, FIRE | {"id": "any", "labels": None}])
    groups = assign_models(spec, labels.get)
    assert {m: [r.id for r in rs] for m, rs in groups.items()} == {"people": ["crowd"], "fire": ["fire", "any"]}
    pinned = camera(detect={"models": ["fire", "people"]}, rules=[CROWD | {"model": "fire"}])
    assert list(assign_models(pinned, labels.get)) == ["fire"]

    got = Sink()
    book = RuleBook(got, labels_of=labels.get)
    book.apply(camera(detect={"models": ["fire", "people"]}, rules=[CROWD, FIRE]), "c")
    assert book.models("c") == ["fire", "people"]
    two = [Detection("person", 0, 0.9, (10, 10, 20, 40)), Detection("person", 0, 0.9, (50, 10, 60, 40))]
    for t in (1.0, 1.2, 1.4):
        book.update("c", "people", frame(t), two)
        # The fire model's results say nothing about people: the crowd goes on being seen.
        book.update("c", "fire", frame(t + 0.1), [])
    assert [(s.rule_id, s.phase) for s in got.steps] == [("crowd", "open")]


def test_rule_codes_are_checked_against_the_code_tables():
    tax = load_taxonomy()
    check_rule_codes(tax, [RuleSpec.model_validate(FIRE)])
    try:
        check_rule_codes(tax, [RuleSpec.model_validate(FIRE), RuleSpec.model_validate(FIRE | {"category_code": "9"})])
    except TaxonomyError as exc:
        assert exc.field == "rules[1].category_code" and "0401" in exc.allowed
    else:
        raise AssertionError("an unknown category was accepted")


def test_a_failing_sink_is_logged_and_analytics_go_on(caplog):
    def broken(_steps: list[IncidentUpdate], _seen: Sighting | None) -> None:
        raise RuntimeError("database down")

    book = RuleBook(broken)
    book.apply(camera(rules=[FIRE]), "c")
    with caplog.at_level(logging.ERROR, logger="videohub.analytics"):
        steps = book.update("c", "fire", frame(1.0), FLAME)
    assert [s.phase for s in steps] == ["open"] and "incident sink failed" in caplog.text


def test_a_config_rule_with_an_unknown_category_stops_the_start(tmp_path):
    import pytest

    from videohub.config import parse_config
    from videohub.runtime import HubRuntime, StartupError

    config = parse_config(
        {
            "database": {"url": f"sqlite:///{tmp_path}/hub.db"},
            "models": {"fire": {"kind": "fire"}},
            "cameras": [camera(rules=[FIRE | {"category_code": "fire"}]).to_json()],
        },
        "hub.yaml",
    )
    with pytest.raises(StartupError, match=r"hub\.yaml: cameras\[0\]\.rules\[0\]\.category_code: .*allowed: .*0401"):
        HubRuntime(config, "hub.yaml")
    assert not (tmp_path / "hub.db").exists()  # refused before anything was touched


def test_stopping_the_hub_closes_the_open_incidents(tmp_path):
    from videohub.config import parse_config
    from videohub.events.schema import EventFilter
    from videohub.runtime import HubRuntime

    config = parse_config(
        {
            "database": {"url": f"sqlite:///{tmp_path}/hub.db"},
            "models": {"fire": {"kind": "fire"}},
            "cameras": [camera(rules=[FIRE]).to_json()],
        },
        "hub.yaml",
    )
    runtime = HubRuntime(config, "hub.yaml")
    runtime.rules.apply(runtime.registry.get("c").spec, "c")
    t0 = 1_800_000_000.0
    runtime.rules.update("c", "fire", frame(t0), FLAME)
    runtime.rules.update("c", "fire", frame(t0 + 1), FLAME)
    runtime.stop()
    (event,) = runtime.events.list(EventFilter()).items
    assert event.evidence.ended_at is not None and event.evidence.ended_at.timestamp() == t0 + 1
    assert runtime.rules.models("c") == []


def test_close_all_closes_every_camera_and_drops_its_rules():
    got = Sink()
    book = RuleBook(got)
    book.apply(camera(rules=[FIRE]), "c")
    book.apply(camera(id="d", rules=[FIRE]), "d")
    book.update("c", "fire", frame(1.0), FLAME)
    book.update("d", "fire", frame(1.0), FLAME)
    book.close_all()
    assert sorted((s.camera_id, s.phase) for s in got.steps if s.phase == "close") == [("c", "close"), ("d", "close")]
    assert book.get("c", "fire") is None and book.update("c", "fire", frame(2.0), FLAME) == []


def test_a_close_made_by_a_rule_change_never_overtakes_the_open_of_a_frame_in_flight():
    import threading
    import time

    got = Sink()
    book = RuleBook(got)
    book.apply(camera(rules=[FIRE]), "c")
    rules = book.get("c", "fire")
    assert rules is not None
    made, go_on = threading.Event(), threading.Event()
    original = rules.update

    def slow_update(*args: Any, **kwargs: Any) -> list[IncidentUpdate]:
        steps = original(*args, **kwargs)
        made.set()  # the engine thread is preempted between making its 'open' and passing it on
        go_on.wait(5)
        return steps

    rules.update = slow_update  # type: ignore[method-assign]
    engine = threading.Thread(target=book.update, args=("c", "fire", frame(1.0), FLAME))
    engine.start()
    assert made.wait(5)
    api = threading.Thread(target=book.apply, args=(camera(rules=[FIRE | {"min_score": 0.5}]), "c"))
    api.start()  # a new condition: closes the incident the frame just opened
    time.sleep(0.2)
    go_on.set()
    engine.join(5)
    api.join(5)
    assert [(s.rule_id, s.phase) for s in got.steps] == [("fire", "open"), ("fire", "close")]


def test_an_api_rule_whose_category_left_the_tables_is_reported_at_start(tmp_path, caplog):
    from videohub.config import parse_config
    from videohub.runtime import HubRuntime

    db = {"url": f"sqlite:///{tmp_path}/hub.db"}
    first = HubRuntime(parse_config({"database": db, "models": {"fire": {"kind": "fire"}}}, "hub.yaml"))
    first.registry.create(camera(id="api-cam", stream_url="rtsp://127.0.0.1:1/x", rules=[FIRE]))
    first.stop()

    tables = tmp_path / "tables"
    tables.mkdir()
    minor = "{code: '0901', name_zh: 其他, name_en: Other}"
    city = f"majors:\n  - {{code: '09', name_zh: 其他, name_en: Other, minors: [{minor}]}}\n"
    (tables / "categories.yaml").write_text(city, encoding="utf-8")
    config = parse_config(
        {"database": db, "models": {"fire": {"kind": "fire"}}, "taxonomy": {"dir": str(tables)}}, "hub.yaml"
    )
    second = HubRuntime(config)
    with caplog.at_level(logging.ERROR, logger="videohub"):
        second.start()
    second.stop()
    assert "camera api-cam: rules[0].category_code: unknown minor category '0401'" in caplog.text
    assert "0901" in caplog.text
