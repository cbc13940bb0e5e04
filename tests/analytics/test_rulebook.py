"""The rule book follows camera specs: rules start, change in place, and stop with their
incidents closed; a failing sink never stops the analytics."""

from __future__ import annotations

import logging
from typing import Any

from videohub.analytics.rulebook import RuleBook
from videohub.analytics.rules import IncidentUpdate
from videohub.config import CameraSpec
from videohub.detect.base import Detection

FIRE: dict[str, Any] = {
    "id": "fire",
    "kind": "presence",
    "labels": ["fire"],
    "persistence": {"frames": 1, "of_frames": 1},
    "category_code": "fire",
}
FLAME = [Detection("fire", 0, 0.9, (40, 40, 60, 60))]


def camera(**fields: Any) -> CameraSpec:
    return CameraSpec.model_validate({"id": "c", "stream_url": "rtsp://h/x"} | fields)


def test_specs_start_change_and_stop_rules():
    got: list[IncidentUpdate] = []
    book = RuleBook(got.extend)
    book.apply(camera(), "c")
    assert book.get("c") is None and book.update("c", 0.0, FLAME, (100, 100)) == []  # no rules: nothing kept

    book.apply(camera(rules=[FIRE]), "c")
    assert [s.phase for s in book.update("c", 1.0, FLAME, (100, 100))] == ["open"]
    rules = book.get("c")
    book.apply(camera(name="Renamed", rules=[FIRE]), "c")
    assert book.get("c") is rules and len(got) == 1  # unchanged rules: same state, no close

    book.apply(camera(enabled=False, rules=[FIRE]), "c")  # a disabled camera raises nothing
    assert book.get("c") is None and [(s.rule_id, s.phase) for s in got] == [("fire", "open"), ("fire", "close")]

    book.apply(camera(rules=[FIRE | {"enabled": False}]), "c")
    assert book.get("c") is None
    book.apply(camera(rules=[FIRE]), "c")
    book.update("c", 2.0, FLAME, (100, 100))
    book.apply(None, "c")  # camera removed
    assert book.get("c") is None and got[-1].phase == "close"


def test_a_failing_sink_is_logged_and_analytics_go_on(caplog):
    def broken(_steps: list[IncidentUpdate]) -> None:
        raise RuntimeError("database down")

    book = RuleBook(broken)
    book.apply(camera(rules=[FIRE]), "c")
    with caplog.at_level(logging.ERROR, logger="videohub.analytics"):
        steps = book.update("c", 1.0, FLAME, (100, 100))
    assert [s.phase for s in steps] == ["open"] and "incident sink failed" in caplog.text
