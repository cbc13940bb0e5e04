"""Exporting YOLO architectures with Ultralytics' own exporter (optional extra).

Most tests need the `videohub[ultralytics]` extra (torch, ultralytics, onnx) and skip without it;
see docs/ultralytics.md for the install. They export a small (320 px) untrained, calibrated
YOLOv8n once per module (a few seconds on CPU) and check what the rest of the project relies on:
Ultralytics' metadata, that the output carries signal (it differs between frames, unlike the raw
untrained net), that onnxruntime runs it, and that Ultralytics' own predict runs on it on CPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from videohub.detect.calibrate import SceneRenderer, calibration_frames, scene_batch
from videohub.detect.export import (
    NOTE_CALIBRATED,
    NOTE_KEY,
    NOTE_RAW,
    UltralyticsMissing,
    export_model,
    model_file_name,
    ultralytics_available,
)
from videohub.detect.metadata import parse_metadata

IMGSZ = 320

needs_ultralytics = pytest.mark.skipif(
    not ultralytics_available() or importlib.util.find_spec("onnxruntime") is None,
    reason="optional extra not installed (torch, ultralytics, onnx, onnxruntime): "
    "pip install 'videohub[ultralytics]' with the torch==2.13.0 constraint; see docs/ultralytics.md",
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model("yolov8n", tmp_path_factory.mktemp("export"), imgsz=IMGSZ)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _props(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _two_scenes() -> list[np.ndarray]:
    # Two different scenes, neither of them among the calibration frames.
    return [SceneRenderer(1280, 720, seed=7).render(3), SceneRenderer(640, 480, seed=8).render(40)]


def _run(path: Path, frames: list[np.ndarray]) -> list[np.ndarray]:
    session = _session(path)
    name = session.get_inputs()[0].name
    batch = scene_batch(frames, IMGSZ).numpy()
    return [session.run(None, {name: batch[i : i + 1]})[0] for i in range(len(frames))]


def test_file_name_says_untrained() -> None:
    assert model_file_name("yolov8n", 640) == "yolov8n-untrained-640.onnx"
    assert model_file_name("yolo11n", 320, dynamic=True, half=True) == "yolo11n-untrained-320-dynamic-fp16.onnx"
    assert model_file_name("yolov8n", 640, batch=4, calibrate=False) == "yolov8n-untrained-raw-640-b4.onnx"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"arch": "yolov5s"}, "unknown architecture"), ({"imgsz": 333}, "multiple of 32"), ({"batch": 0}, "batch")],
)
def test_bad_arguments_are_refused_before_any_work(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"arch": "yolov8n", "out_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message):
        export_model(**args)
    assert not any(tmp_path.iterdir())


def test_missing_extra_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "ultralytics" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not ultralytics_available()
    with pytest.raises(UltralyticsMissing, match=r"ultralytics not installed: pip install 'videohub\[ultralytics\]'"):
        export_model("yolov8n", tmp_path, imgsz=IMGSZ)


@needs_ultralytics
def test_export_carries_ultralytics_metadata(exported: Path) -> None:
    assert exported.name == "yolov8n-untrained-320.onnx"
    props = _props(exported)
    meta = parse_metadata(props)  # the parser the hub's own detector uses
    assert meta.names is not None and len(meta.names) == 80
    assert meta.names[0] == "person" and meta.names[2] == "car"  # COCO's names, as a real export has
    assert meta.task == "detect"
    assert meta.imgsz == (IMGSZ, IMGSZ)
    assert meta.stride == 32
    assert meta.batch == 1
    assert meta.end2end is False
    assert props["author"] == "Ultralytics"
    assert props[NOTE_KEY] == NOTE_CALIBRATED


@needs_ultralytics
def test_onnxruntime_runs_it(exported: Path) -> None:
    session = _session(exported)
    (inp,) = session.get_inputs()
    assert inp.name == "images" and list(inp.shape) == [1, 3, IMGSZ, IMGSZ]
    (out,) = _run(exported, _two_scenes()[:1])
    anchors = sum((IMGSZ // s) ** 2 for s in (8, 16, 32))
    assert out.shape == (1, 84, anchors)
    assert np.isfinite(out).all()


@needs_ultralytics
def test_output_carries_signal(exported: Path, tmp_path: Path) -> None:
    a, b = _run(exported, _two_scenes())
    # Output rows: box centre x, y, width, height (model-input pixels), then 80 class scores.
    # Widths and heights depend on the frame only (centres mostly on the anchor grid): between
    # two scenes they change by ~12 % on average here, and scores move by up to ~0.9.
    wh_a, wh_b, scores_a, scores_b = a[0, 2:4], b[0, 2:4], a[0, 4:], b[0, 4:]
    assert np.abs(wh_a - wh_b).mean() > 0.03 * wh_a.mean()
    assert np.abs(scores_a - scores_b).max() > 0.3
    # Sizes spread, and a few scores pass 0.25 while most stay near 0: not a constant map.
    assert wh_a.std() > 0.2 * wh_a.mean()
    assert scores_a.max() > 0.25 and np.median(scores_a) < 0.01
    # The same architecture without calibration is the degenerate net it replaces: same output
    # whatever the frame. (If this ever fails, the check above has lost its point of comparison.)
    raw = export_model("yolov8n", exported.parent, imgsz=IMGSZ, calibrate=False)
    assert raw != exported and raw.name == "yolov8n-untrained-raw-320.onnx"
    assert _props(raw)[NOTE_KEY] == NOTE_RAW
    ra, rb = _run(raw, _two_scenes())
    assert np.abs(ra - rb).max() < 1e-4 * np.abs(ra).max()


@needs_ultralytics
def test_export_is_reproducible(exported: Path, tmp_path: Path) -> None:
    import onnx

    again = export_model("yolov8n", tmp_path, imgsz=IMGSZ)
    weights = [{t.name: t.SerializeToString() for t in onnx.load(str(p)).graph.initializer} for p in (exported, again)]
    assert weights[0] == weights[1]


@needs_ultralytics
def test_ultralytics_predict_runs_on_cpu(exported: Path) -> None:
    from videohub.detect.export import ultralytics_predict

    frames = _two_scenes() + calibration_frames(2)
    results = ultralytics_predict(exported, frames, imgsz=IMGSZ, conf=0.25, iou=0.7)
    assert len(results) == len(frames)
    for frame, (boxes, scores, classes) in zip(frames, results, strict=True):
        h, w = frame.shape[:2]
        assert boxes.shape == (len(scores), 4) and classes.shape == scores.shape
        assert boxes.dtype == np.float32 and classes.dtype == np.int64
        if len(boxes):
            # Boxes in source-frame pixels, scores above the threshold, COCO class ids.
            assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= w).all()
            assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= h).all()
            assert (scores >= 0.25).all() and ((classes >= 0) & (classes < 80)).all()
    assert sum(len(r[0]) for r in results) > 0


@needs_ultralytics
def test_cli_export_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from videohub.cli import main

    assert main(["models", "export", "yolov8n", "--imgsz", "320", "--out", str(tmp_path)]) == 0
    assert "for speed measurements only" in capsys.readouterr().out
    (path,) = tmp_path.glob("*.onnx")
    assert "untrained" in path.name
    assert main(["models", "inspect", str(path)]) == 0
    assert '"layout": "yolov8"' in capsys.readouterr().out
    assert main(["models", "export", "yolov8n", "--imgsz", "100", "--out", str(tmp_path)]) == 2
    assert "multiple of 32" in capsys.readouterr().err
