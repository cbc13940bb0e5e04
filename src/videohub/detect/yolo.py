"""YOLO output layouts: recognising them, decoding them, and class-aware NMS, in numpy.

Three layouts cover Ultralytics' detection exports (one output tensor, B = batch):

- YOLOv5 (the yolov5 repository): [B, N, 5 + nc] rows of cx, cy, w, h, objectness, class
  scores; a box's score is objectness x class score.
- YOLOv8 / YOLO11 (and YOLOv5u, v9, v12...): [B, 4 + nc, N] columns of cx, cy, w, h,
  class scores; no objectness.
- end-to-end (YOLOv10, YOLO26, any export with nms=True): [B, max_det, 6] rows of
  x1, y1, x2, y2, score, class, already after NMS.

N is the number of candidate boxes (anchors): for YOLOv8 sum((H/s) * (W/s)) over the
strides 8, 16, 32 (8400 at 640x640), three times that for YOLOv5 (25200). All coordinates
are in model-input (letterboxed) pixels.

Everything here works on whole arrays: no Python loop per box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import cv2
import numpy as np

MAX_NMS = 30_000  # Ultralytics: at most this many candidates (the best ones) go into NMS
_STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))  # P5 and P6 models


class Layout(StrEnum):
    YOLOV5 = "yolov5"
    YOLOV8 = "yolov8"
    END2END = "end2end"


class LayoutError(ValueError):
    """An output shape that fits no detection layout."""


def anchor_counts(input_hw: tuple[int, int] | None) -> set[int]:
    """Candidate-box counts a YOLOv8-style head has at this input size (x3 for YOLOv5)."""
    if input_hw is None:
        return set()
    h, w = input_hw
    return {sum(math.ceil(h / s) * math.ceil(w / s) for s in strides) for strides in _STRIDE_SETS}


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def recognise_layout(
    shape: Sequence[int | None],
    nc: int | None,
    end2end: bool | None,
    input_hw: tuple[int, int] | None,
) -> tuple[Layout, int | None]:
    """The layout of a detection output of this shape, and its class count.

    shape: the output's dimensions, None where dynamic (unknown until run). nc: the number
    of class names (from metadata or the caller), None if unknown. end2end: what the model's
    metadata says, None if it says nothing. input_hw: the size the model runs at.

    The rule, in order:
    1. Metadata `end2end` (or export `nms=True`) decides: the output must be [B, K, 6].
    2. With nc known, the class count pins the channel axis: [B, 4+nc, N] is YOLOv8,
       [B, N, 5+nc] is YOLOv5, [B, K, 6] is end-to-end (unless metadata says it is not).
       Exactly one fitting is the common case. Several fit only by coincidence (nc=1 makes
       YOLOv5's 5+nc equal end-to-end's 6; a tiny N can equal 4+nc or 5+nc); then the
       candidate-box count decides: the reading whose anchor axis has the length the input
       size implies (N for YOLOv8, 3N for YOLOv5; an end-to-end K is anything else) wins.
       If that still leaves a tie, the longer axis is taken as the anchor axis (a detector
       proposes far more boxes than it has classes).
    3. Without nc, the anchor axis is the dynamic one or the longer one: [B, C, N] with
       C < N is YOLOv8 (nc = C-4), otherwise YOLOv5 (nc = C-5); [B, K, 6] whose K is not a
       YOLOv5 anchor count is end-to-end.
    """
    if len(shape) != 3:
        hint = " (a classification output?)" if len(shape) == 2 else ""
        raise LayoutError(f"output {_shape_text(shape)} has rank {len(shape)}, a detection output has rank 3{hint}")
    _, d1, d2 = shape
    anchors = anchor_counts(input_hw)
    v5_anchors = {3 * a for a in anchors}

    if end2end:
        if d2 is not None and d2 != 6:
            raise LayoutError(
                f"end-to-end model (per its metadata) but output {_shape_text(shape)} is not [B, max_det, 6]"
            )
        return Layout.END2END, nc

    if nc is not None:
        candidates: list[Layout] = []
        if d1 == 4 + nc:
            candidates.append(Layout.YOLOV8)
        if d2 == 5 + nc:
            candidates.append(Layout.YOLOV5)
        if d2 == 6 and end2end is None:
            candidates.append(Layout.END2END)
        if not candidates:
            raise LayoutError(
                f"output {_shape_text(shape)} fits no detection layout for {nc} classes: expected "
                f"[B, {4 + nc}, N] (YOLOv8/11), [B, N, {5 + nc}] (YOLOv5) or [B, max_det, 6] (end-to-end)"
            )
        if len(candidates) > 1 and anchors:
            consistent = {
                Layout.YOLOV8: d2 is None or d2 in anchors,
                Layout.YOLOV5: d1 is None or d1 in v5_anchors,
                Layout.END2END: d1 is not None and d1 not in v5_anchors and d1 not in anchors,
            }
            narrowed = [c for c in candidates if consistent[c]]
            if len(narrowed) == 1:
                return narrowed[0], nc
            if narrowed:
                candidates = narrowed
        if len(candidates) > 1:
            # Longest axis holds the anchors; an unknown (dynamic) length counts as longest.
            d1_len = math.inf if d1 is None else d1
            d2_len = math.inf if d2 is None else d2
            preferred = Layout.YOLOV8 if d2_len > d1_len else Layout.YOLOV5
            if preferred in candidates:
                return preferred, nc
        return candidates[0], nc

    # No class names anywhere: read the class count off the shape.
    if d2 == 6 and end2end is None and d1 is not None and d1 not in v5_anchors and d1 not in anchors:
        return Layout.END2END, None
    if d1 is None and d2 is None:
        raise LayoutError(f"output {_shape_text(shape)}: cannot tell channels from anchors")
    if d2 is None or (d1 is not None and d1 < d2):
        if d1 is None or d1 <= 4:
            raise LayoutError(f"output {_shape_text(shape)} has no class channels")
        return Layout.YOLOV8, d1 - 4
    if d2 <= 5:
        raise LayoutError(f"output {_shape_text(shape)} has no class channels")
    return Layout.YOLOV5, d2 - 5


@dataclass(frozen=True, slots=True)
class Boxes:
    """Detections of one image: xyxy boxes (n, 4) float, scores (n,) float32, classes (n,) int64."""

    xyxy: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, idx: np.ndarray) -> Boxes:
        return Boxes(self.xyxy[idx], self.scores[idx], self.classes[idx])


def _empty() -> Boxes:
    return Boxes(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))


def _xywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    half_w, half_h = w / 2, h / 2
    return np.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), axis=1)


def candidates_v8(pred: np.ndarray, conf: float) -> Boxes:
    """pred [4+nc, N] for one image -> boxes whose best class score is above conf."""
    cls = pred[4:]
    best = cls.max(axis=0)
    idx = np.flatnonzero(best > conf)  # Ultralytics keeps score > conf, strictly
    if idx.size == 0:
        return _empty()
    sub = pred[:, idx]  # the few candidates only: argmax and box maths run on k, not N
    classes = sub[4:].argmax(axis=0).astype(np.int64)
    return Boxes(_xywh_to_xyxy(sub[0], sub[1], sub[2], sub[3]), best[idx], classes)


def candidates_v5(pred: np.ndarray, conf: float) -> Boxes:
    """pred [N, 5+nc] for one image; score = objectness x class score, as YOLOv5 computes it."""
    # YOLOv5 drops rows by objectness first: obj * cls <= obj, so nothing above conf is lost.
    sub = pred[pred[:, 4] > conf]
    if sub.shape[0] == 0:
        return _empty()
    scores_all = sub[:, 5:] * sub[:, 4:5]
    classes = scores_all.argmax(axis=1)
    scores = np.take_along_axis(scores_all, classes[:, None], axis=1)[:, 0]
    keep = scores > conf
    if not keep.any():
        return _empty()
    sub = sub[keep]
    xyxy = _xywh_to_xyxy(sub[:, 0], sub[:, 1], sub[:, 2], sub[:, 3])
    return Boxes(xyxy, scores[keep], classes[keep].astype(np.int64))


def _nms_by_class(rects: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS of each class on its own; rects (x, y, w, h) and scores sorted best first.
    Returns the kept indices, best first (ties in input order)."""
    n = scores.shape[0]
    by_class = np.argsort(classes, kind="stable")  # stable: best first within each class
    cls_sorted = classes[by_class]
    cuts = np.flatnonzero(cls_sorted[1:] != cls_sorted[:-1]) + 1
    starts = [0, *cuts.tolist()]
    ends = [*cuts.tolist(), n]
    rects_c = rects[by_class]
    scores_c = scores[by_class]
    kept: list[np.ndarray] = []
    for s, e in zip(starts, ends, strict=True):
        if e - s == 1:  # a lone box of its class is always kept
            kept.append(by_class[s : s + 1])
            continue
        # The score filter already ran (score > conf >= 0), so OpenCV's own one (score > 0; it
        # refuses negative thresholds) lets every candidate through. (OpenCV's stubs say
        # Sequence; it converts (n, 4) / (n,) arrays without a Python loop.)
        found = cv2.dnn.NMSBoxes(cast(Any, rects_c[s:e]), cast(Any, scores_c[s:e]), 0.0, float(iou))
        kept.append(by_class[s + np.asarray(found, dtype=np.int64).reshape(-1)])
    # Indices into the best-first order: sorting them restores best first, ties in input order.
    return np.sort(np.concatenate(kept))


def class_aware_nms(boxes: Boxes, iou: float, max_keep: int | None = None) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, per class, best score first (at most max_keep).

    Each class is suppressed on its own: greedy NMS compares every candidate with every box
    kept before it, so one pass over all classes (Ultralytics shifts each class into its own
    region of the plane) costs candidates x kept comparisons across classes that can never
    overlap. Per class it is the sum of n_c x k_c: on an output crowded with 1,600 candidates of
    56 classes (300 kept) that measured 1.8 ms against 3.3 ms for the one-pass version.

    The greedy pass itself is cv2.dnn.NMSBoxes: C++, releases the GIL (other cameras keep
    decoding meanwhile) and measured 3-7x faster than a numpy greedy loop (one vectorised
    IoU row per kept box) on 400-3000 candidates. Its IoU is the plain area ratio without
    the +1 pixel convention, and it suppresses IoU > iou, like torchvision.ops.nms that
    Ultralytics calls; ties keep input order (stable sort).

    Greedy NMS still costs candidates x kept comparisons within a class, which explodes at a
    low threshold (8400 scattered candidates at conf 0.01). But greedy NMS decides each box
    from the better boxes only, so NMS over the best k candidates keeps exactly the first boxes
    the full run keeps: we run it on a growing prefix and stop once max_keep boxes survive.
    """
    n = len(boxes)
    if n == 0:
        return np.empty(0, np.int64)
    order = np.argsort(-boxes.scores, kind="stable")
    xyxy = boxes.xyxy[order].astype(np.float64)
    rects = np.empty((n, 4), np.float64)  # OpenCV wants x, y, w, h
    rects[:, :2] = xyxy[:, :2]
    rects[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
    scores = np.ascontiguousarray(boxes.scores[order], dtype=np.float32)
    classes = boxes.classes[order]
    limit = n if max_keep is None else max_keep
    k = n if max_keep is None else min(n, max(1024, 4 * max_keep))
    while True:
        keep = _nms_by_class(rects[:k], scores[:k], classes[:k], iou)
        if k == n or keep.size >= limit:
            return order[keep[:limit]]
        k = min(n, 4 * k)


def postprocess(
    layout: Layout, pred: np.ndarray, conf: float, iou: float, max_det: int, max_nms: int = MAX_NMS
) -> Boxes:
    """One image's raw output -> final detections in model-input pixels, best first."""
    if layout is Layout.END2END:
        scores = pred[:, 4]
        idx = np.flatnonzero(scores > conf)
        # The model sorted by score already (top-k); a stable sort keeps that order and makes
        # the max_det cap take the best ones even from a model that did not.
        idx = idx[np.argsort(-scores[idx], kind="stable")][:max_det]
        rows = pred[idx]
        return Boxes(rows[:, :4].copy(), rows[:, 4].copy(), rows[:, 5].round().astype(np.int64))
    found = candidates_v8(pred, conf) if layout is Layout.YOLOV8 else candidates_v5(pred, conf)
    if len(found) > max_nms:
        found = found.take(np.argsort(-found.scores, kind="stable")[:max_nms])
    return found.take(class_aware_nms(found, iou, max_det))
