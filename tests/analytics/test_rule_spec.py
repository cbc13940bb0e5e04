"""RuleSpec validation names the field at fault; rules are read from the YAML config."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from videohub.analytics.spec import RuleSpec
from videohub.config import ConfigError, parse_config

BASE: dict[str, Any] = {"id": "r", "kind": "presence", "category_code": "fire"}


def error_of(**fields: Any) -> tuple[str, str]:
    """(location, message) of the single validation error of BASE | fields."""
    with pytest.raises(ValidationError) as info:
        RuleSpec.model_validate(BASE | fields)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(p) for p in errors[0]["loc"]), errors[0]["msg"]


@pytest.mark.parametrize(
    ("fields", "loc", "words"),
    [
        ({"zone": [(0, 0), (1, 1)]}, "zone", "at least 3 points"),
        ({"zone": [(0, 0), (1.2, 0), (1, 1)]}, "zone", "[0, 1]"),
        ({"zone": [(0, 0), (1, 0, 0), (1, 1)]}, "zone.1", "at most 2"),
        ({"id": "Bad Id"}, "id", "pattern"),
        ({"kind": "crowd"}, "kind", "presence"),
        ({"level": 6}, "level", "less than or equal to 5"),
        ({"min_score": -0.1}, "min_score", "greater than or equal"),
        ({"title": "{camera} {speed}"}, "title", "unknown field {speed}"),
        ({"title": "{camera.__class__}"}, "title", "unknown field"),
        ({"title": "{camera"}, "title", "not a valid template"),
        ({"title": "{count:s} people"}, "title", "not a valid template"),
        ({"title": "{label:d}"}, "title", "not a valid template"),
        ({"title": "{rule:{camera.__class__}}"}, "title", "not a valid template"),
        ({"title": "{camera:>99999999}"}, "title", "at most 1000"),
        ({"persistence": {"frames": 6, "of_frames": 5}}, "persistence", "must not exceed of_frames"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"category_code": ""}, "category_code", "at least 1"),
        ({"update_interval": 0}, "update_interval", "greater than 0"),
    ],
)
def test_errors_name_the_field(fields: dict[str, Any], loc: str, words: str) -> None:
    where, msg = error_of(**fields)
    assert where == loc and words in msg, (where, msg)


def test_format_specs_of_the_right_type_are_fine():
    spec = RuleSpec.model_validate(BASE | {"title": "{count:>3} at {camera:.20} ({dwell:,}s)"})
    assert spec.title.startswith("{count:>3}")


def test_kind_specific_fields():
    assert "needs `line`" in error_of(kind="line")[1]
    assert "needs `dwell_seconds`" in error_of(kind="dwell")[1]
    assert "only used by dwell" in error_of(dwell_seconds=5)[1]
    line = {"start": (0, 0.5), "end": (1, 0.5)}
    assert "only used by line" in error_of(line=line)[1]
    assert "not used by line" in error_of(kind="line", line=line, zone=[(0, 0), (1, 0), (1, 1)])[1]
    assert "same point" in error_of(kind="line", line={"start": (0.5, 0.5), "end": (0.5, 0.5)})[1]
    where, msg = error_of(kind="line", line={"start": (0, 2), "end": (1, 0.5)})
    assert where == "line.start" and "[0, 1]" in msg
    ok = RuleSpec.model_validate(BASE | {"kind": "line", "line": line})
    assert ok.line is not None and ok.line.direction == "both" and ok.effective_persistence().frames == 1
    assert RuleSpec.model_validate(BASE).effective_persistence().of_frames == 5


CONFIG = """
models:
  fire: {kind: fire}
  people: {kind: hog-people}
cameras:
  - id: gate
    stream_url: rtsp://127.0.0.1/gate
    detect: {models: [fire, people]}
    rules:
      - id: fire
        kind: presence
        labels: [fire, smoke]
        min_score: 0.4
        category_code: "0401"
        level: 2
        title: "{label} at {camera}"
      - id: crowd
        kind: count
        zone: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
        zone_name: square
        min_count: 20
        persistence: {frames: 4, of_frames: 5, seconds: 30}
        category_code: "1101"
      - id: wrong-way
        kind: line
        line: {start: [0.1, 0.6], end: [0.9, 0.6], direction: right_to_left}
        labels: [car]
        category_code: "1002"
"""


def test_yaml_config_with_rules():
    config = parse_config(yaml.safe_load(CONFIG), "city.yaml")
    rules = config.cameras[0].rules
    assert [r.id for r in rules] == ["fire", "crowd", "wrong-way"]
    assert rules[0].labels == ["fire", "smoke"] and rules[0].level == 2
    assert rules[1].zone == [(0, 0.5), (1, 0.5), (1, 1), (0, 1)] and rules[1].persistence is not None
    assert rules[1].persistence.seconds == 30
    assert rules[2].line is not None and rules[2].line.direction == "right_to_left"
    assert rules[0].category_code == "0401"
    # stored and read back unchanged (the registry keeps API cameras as JSON)
    spec = config.cameras[0]
    assert type(spec).model_validate(spec.to_json()) == spec


def test_config_errors_name_camera_rule_and_field():
    data = yaml.safe_load(CONFIG)
    data["cameras"][0]["rules"][1]["zone"] = [[0, 0], [1, 1]]
    with pytest.raises(ConfigError, match=r"city\.yaml: cameras\[0\]\.rules\[1\]\.zone: .*at least 3 points"):
        parse_config(data, "city.yaml")
    data = yaml.safe_load(CONFIG)
    data["cameras"][0]["rules"][2]["id"] = "fire"
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.rules: .*rule id 'fire' is used twice"):
        parse_config(data, "city.yaml")
    data = yaml.safe_load(CONFIG)
    data["cameras"][0]["rules"][0]["model"] = "cars"
    with pytest.raises(ConfigError, match=r"cameras\[0\]: .*rule 'fire' looks at model 'cars'.*\(fire, people\)"):
        parse_config(data, "city.yaml")
    data = yaml.safe_load(CONFIG)
    del data["cameras"][0]["detect"]
    with pytest.raises(ConfigError, match=r"cameras\[0\]: .*rule 'fire' needs detections: give the camera detect"):
        parse_config(data, "city.yaml")
