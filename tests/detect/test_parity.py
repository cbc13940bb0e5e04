"""Parity with Ultralytics: the same exported YOLOv8n on the same images gives the same
boxes (IoU >= 0.99), classes and scores (within 1e-3) through the hub's detector and
through Ultralytics' own predict. Needs the `ultralytics` extra, which CI installs; it
skips elsewhere, saying so, and fails in CI if the extra is missing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from videohub.detect.export import ultralytics_available

if not ultralytics_available():
    if os.environ.get("CI"):
        pytest.fail("the ultralytics extra must be installed in CI (see scripts/test)", pytrace=False)
    pytest.skip(
        "Ultralytics extra not installed (pip install -e '.[ultralytics]' with torch==2.13.0)", allow_module_level=True
    )

from videohub.detect.calibrate import SceneRenderer  # noqa: E402
from videohub.detect.export import export_model, ultralytics_predict  # noqa: E402
from videohub.detect.onnx_yolo import OnnxYoloDetector  # noqa: E402

IMGSZ = 320


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # Untrained weights rescaled to carry signal (an untrained export outputs the same
    # tensor for every frame, and parity on it would prove nothing).
    return export_model("yolov8n", tmp_path_factory.mktemp("model"), imgsz=IMGSZ)


def frames() -> list[np.ndarray]:
    # Scenes the calibration never saw, in shapes that make the letterbox pad both ways.
    sizes = [(640, 360), (480, 640), (1280, 720), (500, 500), (1920, 1080)]
    return [SceneRenderer(w, h, seed=4242 + i).render(3 * i) for i, (w, h) in enumerate(sizes)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_same_boxes_classes_and_scores_as_ultralytics(model):
    images = frames()
    ours = OnnxYoloDetector(model, providers=["CPUExecutionProvider"], conf=0.25, iou=0.7, max_det=300)
    assert ours.input_size == (IMGSZ, IMGSZ)
    hub = ours.detect(images)
    reference = ultralytics_predict(model, images, imgsz=IMGSZ, conf=0.25, iou=0.7, max_det=300)
    total = 0
    for index, (got, (boxes, scores, classes)) in enumerate(zip(hub, reference, strict=True)):
        assert len(got) == len(boxes), f"frame {index}: {len(got)} detections, Ultralytics {len(boxes)}"
        unmatched = list(range(len(boxes)))
        for det in got:
            # Pair with the same-class reference box that overlaps most (order may differ at ties).
            best = max(
                (j for j in unmatched if classes[j] == det.class_id),
                key=lambda j: iou(np.array(det.box), boxes[j]),
                default=None,
            )
            assert best is not None, f"frame {index}: {det} has no same-class counterpart"
            assert iou(np.array(det.box), boxes[best]) >= 0.99, f"frame {index}: {det.box} vs {boxes[best]}"
            assert abs(det.score - float(scores[best])) <= 1e-3
            unmatched.remove(best)
        total += len(got)
    assert total >= 10, "the model should find something on these scenes, or parity proves little"
    # The model carries signal: different frames give different detections.
    assert len({tuple(round(d.score, 3) for d in dets) for dets in hub}) == len(hub)
