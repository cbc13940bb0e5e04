"""OnnxYoloDetector end to end, on tiny ONNX models whose outputs carry known boxes.

The expected boxes are computed here with Ultralytics' letterbox arithmetic written out
(r = min ratio, pad = round((new - round(old * r)) / 2 - 0.1)): a model output placed at
`source * r + pad` must come back as `source`, in the pixels of each frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.detect.models import (
    colour_model,
    constant_model,
    e2e_output,
    opaque_shape_model,
    ultralytics_metadata,
    v5_output,
    v8_output,
)
from videohub.detect.base import Detection, Detector, ModelError
from videohub.detect.onnx_yolo import OnnxYoloDetector, inspect_model
from videohub.detect.yolo import Layout

NAMES = ["person", "bicycle", "car"]


def forward(box: tuple[float, float, float, float], src_hw: tuple[int, int], dst_hw: tuple[int, int]):
    """Source-pixel xyxy -> model-input xyxy, the way Ultralytics' letterbox places the frame."""
    (h, w), (H, W) = src_hw, dst_hw
    r = min(H / h, W / w)
    left = round((W - round(w * r)) / 2 - 0.1)
    top = round((H - round(h * r)) / 2 - 0.1)
    x1, y1, x2, y2 = box
    return (x1 * r + left, y1 * r + top, x2 * r + left, y2 * r + top)


def xywh(xyxy: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = xyxy
    return ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def blank(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def boxes_of(dets: list[Detection]) -> np.ndarray:
    return np.array([d.box for d in dets], np.float64).reshape(-1, 4)


@pytest.mark.parametrize("src_hw", [(720, 1280), (480, 640), (333, 500), (500, 333), (1080, 1440)])
@pytest.mark.parametrize("imgsz", [(640, 640), (384, 640)])
def test_v8_boxes_map_back_to_the_frame(tmp_path: Path, src_hw: tuple[int, int], imgsz: tuple[int, int]) -> None:
    h, w = src_hw
    source = [(0.10 * w, 0.20 * h, 0.35 * w, 0.70 * h), (0.55 * w, 0.05 * h, 0.95 * w, 0.40 * h)]
    anchors = sum((imgsz[0] // s) * (imgsz[1] // s) for s in (8, 16, 32))
    out = v8_output([xywh(forward(b, src_hw, imgsz)) for b in source], [0, 2], [0.9, 0.6], 3, anchors)
    model = constant_model(tmp_path / "v8.onnx", out, input_hw=imgsz, metadata=ultralytics_metadata(NAMES, imgsz))
    det = OnnxYoloDetector(model)
    assert (det.layout, det.labels, det.input_size) == (Layout.YOLOV8, NAMES, imgsz)

    [dets] = det.detect([blank(h, w)])
    assert [(d.label, d.class_id) for d in dets] == [("person", 0), ("car", 2)]
    assert [d.score for d in dets] == pytest.approx([0.9, 0.6])
    np.testing.assert_allclose(boxes_of(dets), source, atol=2e-3)  # float32 model output


def test_boxes_are_clipped_to_the_frame(tmp_path: Path) -> None:
    # 1280x720 into 640x640: r = 0.5, 140 px of padding above and below the picture.
    out = v8_output([xywh((-20, 100, 660, 560))], [1], [0.8], 3, 8400)
    det = OnnxYoloDetector(constant_model(tmp_path / "m.onnx", out, metadata=ultralytics_metadata(NAMES)))
    [[d]] = det.detect([blank(720, 1280)])
    assert d.box == pytest.approx((0, 0, 1280, 720))


def test_v5_layout_multiplies_objectness(tmp_path: Path) -> None:
    src_hw = (480, 640)
    box = (100.0, 120.0, 300.0, 400.0)
    out = v5_output(
        [xywh(forward(box, src_hw, (640, 640))), (50, 50, 10, 10)], [1, 0], [0.5, 0.9], [0.8, 0.2], 3, 25200
    )
    meta = {"stride": "32", "names": str(dict(enumerate(NAMES)))}  # what the yolov5 repository writes
    det = OnnxYoloDetector(constant_model(tmp_path / "v5.onnx", out, metadata=meta), conf=0.3)
    assert det.layout is Layout.YOLOV5
    [dets] = det.detect([blank(*src_hw)])
    # 0.5 x 0.8 = 0.4 passes conf 0.3; the second box has 0.9 x 0.2 = 0.18 and does not.
    assert [(d.label, d.score) for d in dets] == [("bicycle", pytest.approx(0.4))]
    np.testing.assert_allclose(boxes_of(dets), [box], atol=2e-3)
    assert det.detect([blank(*src_hw)], conf=0.45) == [[]]


def test_end2end_model(tmp_path: Path) -> None:
    src_hw = (720, 1280)
    a, b = (100.0, 100.0, 400.0, 500.0), (110.0, 110.0, 410.0, 510.0)  # overlapping, same class
    rows = [(*forward(a, src_hw, (640, 640)), 0.9, 2), (*forward(b, src_hw, (640, 640)), 0.8, 2), (0, 0, 9, 9, 0.1, 0)]
    meta = ultralytics_metadata(NAMES, end2end=True)
    det = OnnxYoloDetector(constant_model(tmp_path / "e2e.onnx", e2e_output(rows), metadata=meta))
    assert det.layout is Layout.END2END
    [dets] = det.detect([blank(*src_hw)])
    # Already NMSed by the model: both overlapping boxes stay; the 0.1 row is under conf.
    assert [(d.label, d.score) for d in dets] == [("car", pytest.approx(0.9)), ("car", pytest.approx(0.8))]
    np.testing.assert_allclose(boxes_of(dets), [a, b], atol=2e-3)
    assert len(det.detect([blank(*src_hw)], max_det=1)[0]) == 1


def nms_model(tmp_path: Path, **kwargs: Any) -> OnnxYoloDetector:
    """640x640 frames (no padding): A and B overlap with IoU 0.5 (same class), C sits on A
    exactly but is another class, D is far away."""
    # A = [50, 150] x [50, 150]; B is A shifted right by a third of its width: IoU = (2/3) / (4/3) = 0.5
    boxes = [(100, 100, 100, 100), (133.333333, 100, 100, 100), (100, 100, 100, 100), (500, 500, 60, 60)]
    out = v8_output(boxes, [0, 0, 1, 2], [0.9, 0.8, 0.7, 0.3], 3, 8400)
    return OnnxYoloDetector(constant_model(tmp_path / "nms.onnx", out, metadata=ultralytics_metadata(NAMES)), **kwargs)


def test_class_aware_nms_and_per_call_overrides(tmp_path: Path) -> None:
    det = nms_model(tmp_path)
    frame = [blank(640, 640)]

    def found(**kw: Any) -> list[tuple[str, float]]:
        return [(d.label, round(d.score, 2)) for d in det.detect(frame, **kw)[0]]

    # B (IoU 0.5 with A, same class) is suppressed at iou 0.45; C (same box, other class) is kept.
    assert found() == [("person", 0.9), ("bicycle", 0.7), ("car", 0.3)]
    assert found(iou=0.6) == [("person", 0.9), ("person", 0.8), ("bicycle", 0.7), ("car", 0.3)]
    assert found(conf=0.5) == [("person", 0.9), ("bicycle", 0.7)]
    assert found(max_det=2) == [("person", 0.9), ("bicycle", 0.7)]
    # The constructor sets the defaults the overrides replace, per call only.
    strict = nms_model(tmp_path, conf=0.75, iou=0.6, max_det=1)
    assert [(d.label, round(d.score, 2)) for d in strict.detect(frame)[0]] == [("person", 0.9)]
    assert found() == [("person", 0.9), ("bicycle", 0.7), ("car", 0.3)]
    with pytest.raises(ValueError, match="conf"):
        det.detect(frame, conf=1.5)
    with pytest.raises(ValueError, match="max_det"):
        OnnxYoloDetector(tmp_path / "nms.onnx", max_det=0)


def spy_runs(monkeypatch: pytest.MonkeyPatch, det: OnnxYoloDetector) -> list[tuple[tuple[int, ...], np.dtype]]:
    """Records the shape and dtype of every batch the session runs."""
    session = det._model.session
    real: Callable[..., Any] = session.run
    seen: list[tuple[tuple[int, ...], np.dtype]] = []

    def run(names: Any, feed: dict[str, np.ndarray], *args: Any) -> Any:
        (blob,) = feed.values()
        seen.append((blob.shape, blob.dtype))
        return real(names, feed, *args)

    monkeypatch.setattr(session, "run", run)
    return seen


SIZES = [(720, 1280), (480, 640), (640, 480)]
ONE_BOX = (200.0, 200.0, 400.0, 350.0)  # model-input pixels, inside the picture for every size below


def expected_source_box(src_hw: tuple[int, int]) -> tuple[float, ...]:
    (h, w) = src_hw
    r = min(640 / h, 640 / w)
    left = round((640 - round(w * r)) / 2 - 0.1)
    top = round((640 - round(h * r)) / 2 - 0.1)
    x1, y1, x2, y2 = ONE_BOX
    return ((x1 - left) / r, (y1 - top) / r, (x2 - left) / r, (y2 - top) / r)


@pytest.mark.parametrize(("batch", "runs"), [(1, [1, 1, 1]), (2, [2, 2]), ("batch", [3])])
def test_static_and_dynamic_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | str, runs) -> None:
    out = v8_output([xywh(ONE_BOX)], [0], [0.9], 3, 8400)
    meta = ultralytics_metadata(NAMES, batch=batch if isinstance(batch, int) else 1)
    det = OnnxYoloDetector(constant_model(tmp_path / "m.onnx", out, batch=batch, metadata=meta))
    assert det.batch_size == (batch if isinstance(batch, int) else None)
    seen = spy_runs(monkeypatch, det)

    results = det.detect([blank(*s) for s in SIZES])
    # Static batch 1: one run per frame; static 2: chunks of 2, the last one padded; dynamic: one run.
    assert [shape[0] for shape, _ in seen] == runs
    assert len(results) == 3
    for dets, size in zip(results, SIZES, strict=True):
        np.testing.assert_allclose(boxes_of(dets), [expected_source_box(size)], atol=2e-3)


def test_fp16_model_gets_fp16_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = v8_output([xywh(ONE_BOX)], [1], [0.75], 3, 8400)
    det = OnnxYoloDetector(constant_model(tmp_path / "h.onnx", out, fp16=True, metadata=ultralytics_metadata(NAMES)))
    seen = spy_runs(monkeypatch, det)
    [dets] = det.detect([blank(720, 1280)])
    assert seen == [((1, 3, 640, 640), np.dtype(np.float16))]
    assert [(d.label, d.score) for d in dets] == [("bicycle", 0.75)]
    # fp16 holds these integers exactly, so the mapping is as exact as in fp32
    np.testing.assert_allclose(boxes_of(dets), [expected_source_box((720, 1280))], atol=1e-6)
    assert det.describe()["input_dtype"] == "float16"


def test_frames_get_their_own_answers(tmp_path: Path) -> None:
    det = OnnxYoloDetector(colour_model(tmp_path / "colour.onnx"))
    red, green, blue = blank(48, 64), blank(64, 64), blank(64, 40)
    red[..., 2] = 255  # BGR
    green[..., 1] = 255
    blue[..., 0] = 255
    results = det.detect([red, green, blue, red])
    assert [[d.label for d in dets] for dets in results] == [["red"], ["green"], ["blue"], ["red"]]
    # The padding (grey 114) dilutes the colour of frames that do not fill the input.
    assert results[1][0].score == pytest.approx(1.0)
    assert results[0][0].score < 1.0


def test_concurrent_callers_do_not_mix_frames(tmp_path: Path) -> None:
    det = OnnxYoloDetector(colour_model(tmp_path / "colour.onnx"))
    red, blue = blank(64, 64), blank(64, 64)
    red[..., 2] = 255
    blue[..., 0] = 255
    errors: list[str] = []

    def worker(frame: np.ndarray, label: str) -> None:
        for _ in range(30):
            got = [d.label for dets in det.detect([frame, frame]) for d in dets]
            if got != [label, label]:
                errors.append(f"{label}: {got}")

    threads = [threading.Thread(target=worker, args=a) for a in ((red, "red"), (blue, "blue"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_model_without_metadata_takes_names_and_size_from_arguments(tmp_path: Path) -> None:
    out = v8_output([xywh(ONE_BOX)], [2], [0.9], 3, 5040)  # 5040 anchors: 384x640
    path = constant_model(tmp_path / "bare.onnx", out, input_hw=("height", "width"), batch="batch")
    bare = OnnxYoloDetector(path, imgsz=(384, 640))
    assert (bare.labels, bare.input_size) == (["class0", "class1", "class2"], (384, 640))
    assert bare.detect([blank(384, 640)])[0][0].label == "class2"

    named = OnnxYoloDetector(path, names={0: "cat", 1: "dog", 2: "fox"}, imgsz=[384, 640])
    [[d]] = named.detect([blank(384, 640)])
    assert (d.label, d.class_id) == ("fox", 2)
    assert d.box == pytest.approx(ONE_BOX, abs=1e-4)  # the frame fills the input exactly
    assert named.describe()["input_size_from"] == "argument"

    with pytest.raises(ModelError, match="fits no detection layout for 2 classes"):
        OnnxYoloDetector(path, names=["cat", "dog"], imgsz=(384, 640))


def test_dynamic_size_from_metadata_and_fixed_size_wins(tmp_path: Path) -> None:
    out = v8_output([xywh(ONE_BOX)], [0], [0.9], 3, 5040)
    meta = ultralytics_metadata(NAMES, (384, 640))
    dynamic = constant_model(tmp_path / "dyn.onnx", out, input_hw=("h", "w"), metadata=meta)
    assert OnnxYoloDetector(dynamic).input_size == (384, 640)
    fixed = constant_model(tmp_path / "fixed.onnx", out, input_hw=(384, 640), metadata=meta)
    with pytest.raises(ModelError, match=r"fixed\.onnx.*fixed at 384x640"):
        OnnxYoloDetector(fixed, imgsz=640)


def test_layout_found_by_a_test_run_when_shapes_are_unknown(tmp_path: Path) -> None:
    out = v8_output([xywh(ONE_BOX)], [1], [0.9], 3, 8400)
    det = OnnxYoloDetector(opaque_shape_model(tmp_path / "opaque.onnx", out, metadata=ultralytics_metadata(NAMES)))
    assert det.layout is Layout.YOLOV8
    assert [d.label for d in det.detect([blank(640, 640)])[0]] == ["bicycle"]


def test_inspect_model(tmp_path: Path) -> None:
    out = v8_output([xywh(ONE_BOX)], [0], [0.9], 3, 8400)
    path = constant_model(tmp_path / "yolo11n.onnx", out, batch="batch", metadata=ultralytics_metadata(NAMES))
    info = inspect_model(path)
    assert info["name"] == "yolo11n"
    assert info["layout"] == "yolov8" and info["task"] == "detect" and info["end2end"] is False
    assert info["names"] == NAMES and info["num_classes"] == 3
    assert info["input_size"] == [640, 640] and info["input_dtype"] == "float32"
    assert info["batch"] is None and info["dynamic_batch"] is True
    assert info["output_shape"] == [None, 7, 8400]
    assert info["provider"] == "CPUExecutionProvider"
    assert info["metadata"]["author"] == "Ultralytics"


def test_is_a_detector_and_handles_an_empty_batch(tmp_path: Path) -> None:
    det: Detector = OnnxYoloDetector(colour_model(tmp_path / "c.onnx"), name="colours")
    assert det.name == "colours" and det.provider == "CPUExecutionProvider"
    assert det.detect([]) == []
