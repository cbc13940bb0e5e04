"""Layout recognition, decoding and class-aware NMS, on arrays (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.detect.models import e2e_output, v5_output, v8_output
from videohub.detect.yolo import (
    Boxes,
    Layout,
    LayoutError,
    class_aware_nms,
    postprocess,
    recognise_layout,
)

V8, V5, E2E = Layout.YOLOV8, Layout.YOLOV5, Layout.END2END
SQ = (640, 640)


@pytest.mark.parametrize(
    ("shape", "nc", "end2end", "hw", "expected"),
    [
        # the everyday exports
        ((1, 84, 8400), 80, None, SQ, (V8, 80)),
        ((1, 25200, 85), 80, None, SQ, (V5, 80)),
        ((1, 300, 6), 80, True, SQ, (E2E, 80)),
        ((1, 300, 6), 80, None, SQ, (E2E, 80)),  # a YOLOv10 export from before the end2end key
        ((None, 84, None), 80, None, None, (V8, 80)),  # dynamic batch and input size
        ((None, None, 85), 80, None, None, (V5, 80)),
        ((1, 5, 5040), 1, None, (384, 640), (V8, 1)),  # one class, non-square input
        # nc = 1: YOLOv5's 5+nc is 6, like an end-to-end output; the anchor count decides
        ((1, 25200, 6), 1, None, SQ, (V5, 1)),
        ((1, 300, 6), 1, None, SQ, (E2E, 1)),
        ((1, 300, 6), 1, False, SQ, (V5, 1)),  # metadata says not end-to-end
        # 4+nc and 5+nc both fit (a 6-anchor toy): the input size's anchor count decides,
        # then the longer axis
        ((1, 63, 64), 59, False, (32, 32), (V5, 59)),  # 63 = 3 x 21 anchors at 32x32: YOLOv5
        ((1, 20, 21), 16, False, (32, 32), (V8, 16)),  # 21 anchors at 32x32: YOLOv8
        ((1, 6, 7), 2, False, None, (V8, 2)),  # no input size: the longer axis is the anchors
        # no names: read the class count off the shape
        ((1, 84, 8400), None, None, SQ, (V8, 80)),
        ((1, 25200, 85), None, None, SQ, (V5, 80)),
        ((1, 300, 6), None, None, SQ, (E2E, None)),
        ((1, 25200, 6), None, None, SQ, (V5, 1)),
        ((None, 7, None), None, None, None, (V8, 3)),
    ],
)
def test_recognise_layout(shape, nc, end2end, hw, expected) -> None:
    assert recognise_layout(shape, nc, end2end, hw) == expected


@pytest.mark.parametrize(
    ("shape", "nc", "end2end", "message"),
    [
        ((1, 1000), 1000, None, "classification"),
        ((1, 116, 8400), 80, None, "fits no detection layout for 80 classes"),  # segmentation output0
        ((1, 56, 8400), 1, None, "fits no detection layout"),  # pose
        ((1, 84, 8400), 80, True, "not \\[B, max_det, 6\\]"),
        ((1, 3, 8400), None, None, "no class channels"),
        ((1, None, None), None, None, "cannot tell"),
    ],
)
def test_shapes_that_are_no_detection_layout(shape, nc, end2end, message) -> None:
    with pytest.raises(LayoutError, match=message):
        recognise_layout(shape, nc, end2end, SQ)


def test_v8_decoding_takes_the_best_class_and_converts_xywh() -> None:
    pred = v8_output([(100, 100, 20, 40), (300, 300, 10, 10)], [2, 0], [0.9, 0.2], nc=3, anchors=50)
    pred[4 + 1, 0] = 0.5  # a weaker second class on the same box is not a second detection
    found = postprocess(V8, pred, conf=0.25, iou=0.45, max_det=300)
    np.testing.assert_allclose(found.xyxy, [[90, 80, 110, 120]])
    assert found.classes.tolist() == [2] and found.scores.tolist() == pytest.approx([0.9])


def test_v5_score_is_objectness_times_class_score() -> None:
    pred = v5_output([(100, 100, 20, 20), (200, 200, 20, 20)], [1, 0], [0.5, 0.2], [0.8, 1.0], nc=2, anchors=30)
    found = postprocess(V5, pred, conf=0.3, iou=0.45, max_det=300)
    assert found.scores.tolist() == pytest.approx([0.4])  # 0.5 * 0.8; the other box: objectness 0.2 < conf
    assert found.classes.tolist() == [1]
    assert len(postprocess(V5, pred, conf=0.45, iou=0.45, max_det=300)) == 0  # 0.4 does not pass 0.45


def test_end2end_rows_are_filtered_and_capped_not_suppressed() -> None:
    rows = [(10, 10, 50, 50, 0.9, 3), (12, 12, 52, 52, 0.8, 3), (0, 0, 5, 5, 0.1, 0)]
    pred = e2e_output(rows)
    found = postprocess(E2E, pred, conf=0.25, iou=0.45, max_det=300)
    assert found.classes.tolist() == [3, 3]  # overlapping same-class boxes: the model's NMS already ran
    assert len(postprocess(E2E, pred, conf=0.25, iou=0.45, max_det=1)) == 1


def reference_nms(xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> list[int]:
    """Greedy per-class NMS the slow obvious way, as torchvision.ops.batched_nms defines it."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            if classes[i] != classes[j]:
                continue
            ix = max(0.0, min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0]))
            iy = max(0.0, min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1]))
            inter = ix * iy
            union = (
                (xyxy[i, 2] - xyxy[i, 0]) * (xyxy[i, 3] - xyxy[i, 1])
                + (xyxy[j, 2] - xyxy[j, 0]) * (xyxy[j, 3] - xyxy[j, 1])
                - inter
            )
            if inter / union > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("iou", [0.3, 0.45, 0.7])
def test_nms_matches_the_reference_on_random_clusters(seed: int, iou: float) -> None:
    rng = np.random.default_rng(seed)
    centres = np.repeat(rng.uniform(-20, 660, (15, 2)), 12, axis=0) + rng.normal(0, 6, (180, 2))
    sizes = np.repeat(rng.uniform(10, 120, (15, 2)), 12, axis=0) * rng.uniform(0.8, 1.2, (180, 2))
    xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    scores = rng.permutation(np.linspace(0.3, 0.99, 180)).astype(np.float32)  # distinct: no tie-break questions
    classes = rng.integers(0, 4, 180)
    keep = class_aware_nms(Boxes(xyxy, scores, classes), iou)
    assert keep.tolist() == reference_nms(xyxy, scores, classes, iou)


@pytest.mark.parametrize("spread", [640.0, 40.0])  # scattered (most kept) / piled up (few kept)
def test_nms_stopping_at_max_keep_changes_nothing(spread: float) -> None:
    rng = np.random.default_rng(7)
    centres = rng.uniform(0, spread, (5000, 2))
    xyxy = np.concatenate([centres - 15, centres + 15], axis=1)
    scores = rng.random(5000).astype(np.float32)
    boxes = Boxes(xyxy, scores, rng.integers(0, 3, 5000))
    full = class_aware_nms(boxes, 0.45)
    for cap in (1, 10, 300, 10_000):
        assert class_aware_nms(boxes, 0.45, max_keep=cap).tolist() == full[:cap].tolist()


def test_nms_is_per_class_even_for_boxes_past_the_edge() -> None:
    # Boxes partly left of / above the input (negative coordinates) stay in their class's region:
    # an offset from the largest coordinate alone would let class 1 overlap class 0 here.
    xyxy = np.array([[-100, -100, 50, 50], [-98, -98, 52, 52], [-100, -100, 50, 50], [600, 600, 700, 700]], float)
    boxes = Boxes(xyxy, np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.array([0, 0, 1, 1]))
    assert class_aware_nms(boxes, 0.45).tolist() == [0, 2, 3]


def test_nms_cap_and_empty_input() -> None:
    pred = v8_output(
        [(100 + 30 * i, 100, 20, 20) for i in range(10)], [0] * 10, [0.5 + i / 100 for i in range(10)], 1, 20
    )
    found = postprocess(V8, pred, conf=0.25, iou=0.45, max_det=3)
    assert found.scores.tolist() == pytest.approx([0.59, 0.58, 0.57])  # the best three, best first
    few = postprocess(V8, pred, conf=0.25, iou=0.45, max_det=300, max_nms=4)  # only the best 4 reach NMS
    assert len(few) == 4
    assert len(postprocess(V8, pred, conf=0.99, iou=0.45, max_det=300)) == 0
    assert class_aware_nms(Boxes(np.empty((0, 4)), np.empty(0, np.float32), np.empty(0, np.int64)), 0.5).size == 0
