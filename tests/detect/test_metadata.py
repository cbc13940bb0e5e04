"""Reading Ultralytics / YOLOv5 metadata_props: literals only, never code."""

from __future__ import annotations

import pytest

from tests.detect.models import ultralytics_metadata
from videohub.detect.metadata import (
    MetadataError,
    labels_from_names,
    parse_imgsz,
    parse_metadata,
    parse_names,
)


def test_ultralytics_metadata() -> None:
    meta = parse_metadata(ultralytics_metadata(["person", "bicycle"], (384, 640), batch=4))
    assert meta.names == {0: "person", 1: "bicycle"}
    assert meta.imgsz == (384, 640)  # height first, as Ultralytics writes it
    assert (meta.stride, meta.batch, meta.task, meta.end2end) == (32, 4, "detect", None)


def test_end2end_from_its_key_or_from_an_nms_export() -> None:
    assert parse_metadata({"end2end": "True"}).end2end is True
    assert parse_metadata({"end2end": "False"}).end2end is False
    assert parse_metadata({"args": "{'batch': 1, 'nms': True}"}).end2end is True
    assert parse_metadata({"args": "{'batch': 1, 'nms': False}"}).end2end is None  # says nothing either way
    with pytest.raises(MetadataError, match="end2end"):
        parse_metadata({"end2end": "maybe"})


def test_names_in_every_spelling() -> None:
    assert parse_names("{0: 'person', 1: 'car'}") == {0: "person", 1: "car"}
    assert parse_names("['person', 'car']") == {0: "person", 1: "car"}  # old YOLOv5 exports
    assert parse_names('{"0": "person", "1": "car"}') == {0: "person", 1: "car"}  # JSON round trip
    assert parse_names(["a", "b"]) == {0: "a", 1: "b"}
    assert labels_from_names({0: "a", 2: "c"}) == ["a", "class1", "c"]


@pytest.mark.parametrize(
    "value",
    ["__import__('os').system('touch /tmp/pwned')", "{0: open('/etc/passwd').read()}", "{'x': 'a'}", "{}", "42"],
)
def test_names_that_are_not_a_name_table_are_refused(value: str) -> None:
    with pytest.raises(MetadataError):
        parse_names(value)


def test_imgsz_forms() -> None:
    assert parse_imgsz("[640, 640]") == (640, 640)
    assert parse_imgsz("640") == (640, 640)
    assert parse_imgsz([320]) == (320, 320)
    assert parse_imgsz((384, 640)) == (384, 640)
    for bad in ("[0, 640]", "[1, 2, 3]", "'big'", True):
        with pytest.raises(MetadataError):
            parse_imgsz(bad)


def test_informative_keys_never_break_a_model() -> None:
    meta = parse_metadata({"stride": "thirty-two", "batch": "[1]", "names": "['a']"})
    assert meta.stride is None and meta.batch is None and meta.names == {0: "a"}
