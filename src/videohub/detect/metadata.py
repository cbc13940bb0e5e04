"""What an exported YOLO model says about itself in its ONNX `metadata_props`.

Ultralytics writes each value as `str(value)` of a Python object: `names` is a dict literal
("{0: 'person', 1: 'bicycle'}"), `imgsz` a list ("[640, 640]", height first), `end2end` and
booleans "True"/"False", `args` a dict of export arguments. The YOLOv5 repository writes
`names` (a dict, or a list in old versions) and `stride` only. Values are parsed with
`ast.literal_eval`, which accepts literals and nothing else: a model file is untrusted input
and must never get to run code through `eval`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class MetadataError(ValueError):
    """A metadata value that is present but malformed."""


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    names: dict[int, str] | None = None
    imgsz: tuple[int, int] | None = None  # (height, width)
    stride: int | None = None
    batch: int | None = None
    task: str | None = None  # "detect", "segment", "pose", "classify", "obb"...
    end2end: bool | None = None  # None: the model does not say
    raw: dict[str, str] = field(default_factory=dict)


def _literal(key: str, value: str) -> object:
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise MetadataError(f"metadata {key!r} is not a Python literal: {value[:80]!r} ({type(e).__name__})") from e


def parse_names(value: object, key: str = "names") -> dict[int, str]:
    """Class names from a dict {id: name}, a list of names, or the string of either."""
    if isinstance(value, str):
        value = _literal(key, value)
    items: list[tuple[object, object]]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = list(enumerate(value))
    else:
        raise MetadataError(f"{key} must be a dict of id: name or a list of names, got {type(value).__name__}")
    names: dict[int, str] = {}
    for k, v in items:
        # Keys are ints from Ultralytics; a JSON round trip turns them into "0", "1"...
        if isinstance(k, bool) or not isinstance(k, int | str) or (isinstance(k, str) and not k.strip().isdigit()):
            raise MetadataError(f"{key}: class id {k!r} is not a non-negative integer")
        idx = int(k)
        if idx < 0:
            raise MetadataError(f"{key}: class id {k!r} is negative")
        names[idx] = str(v)
    if not names:
        raise MetadataError(f"{key} is empty")
    return names


def labels_from_names(names: Mapping[int, str]) -> list[str]:
    """A list indexed by class id; ids the model skips get a placeholder name."""
    size = max(names) + 1
    return [names.get(i, f"class{i}") for i in range(size)]


def parse_imgsz(value: object, key: str = "imgsz") -> tuple[int, int]:
    """(height, width) from 640, [640], [384, 640] or their strings."""
    if isinstance(value, str):
        value = _literal(key, value)
    if isinstance(value, int) and not isinstance(value, bool):
        dims = [value, value]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (1, 2):
        dims = list(value) * (2 if len(value) == 1 else 1)
    else:
        raise MetadataError(f"{key} must be an int or [height, width], got {value!r}")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise MetadataError(f"{key} must be positive integers, got {value!r}")
    return int(dims[0]), int(dims[1])


def _optional_int(key: str, value: str | None) -> int | None:
    # stride and batch are informative only: a strange value must not make the model unusable.
    if value is None:
        return None
    try:
        parsed = _literal(key, value)
    except MetadataError:
        return None
    return parsed if isinstance(parsed, int) and not isinstance(parsed, bool) else None


def _bool(key: str, value: str) -> bool:
    parsed = _literal(key, value)
    if not isinstance(parsed, bool):
        raise MetadataError(f"metadata {key!r} must be True or False, got {value!r}")
    return parsed


def parse_metadata(props: Mapping[str, str]) -> ModelMetadata:
    """Reads the keys videohub uses; raises MetadataError for a malformed names/imgsz/end2end."""
    raw = dict(props)
    names = parse_names(raw["names"]) if "names" in raw else None
    imgsz = parse_imgsz(raw["imgsz"]) if "imgsz" in raw else None
    task = (raw["task"].strip() or None) if "task" in raw else None
    end2end: bool | None = _bool("end2end", raw["end2end"]) if "end2end" in raw else None
    if end2end is None and "args" in raw:
        # An export with nms=True (Ultralytics >= 8.3) has the same [B, max_det, 6] output as an
        # end-to-end model, and says so only in its export arguments.
        try:
            args = _literal("args", raw["args"])
        except MetadataError:
            args = None
        if isinstance(args, Mapping) and args.get("nms") is True:
            end2end = True
    return ModelMetadata(
        names=names,
        imgsz=imgsz,
        stride=_optional_int("stride", raw.get("stride")),
        batch=_optional_int("batch", raw.get("batch")),
        task=task,
        end2end=end2end,
        raw=raw,
    )
