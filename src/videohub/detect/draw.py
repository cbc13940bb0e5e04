"""Boxes and labels drawn on a frame, for `?overlay=1` views."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from videohub.detect.base import Detection

# A fixed palette so a class keeps its colour across frames and viewers.
_PALETTE = [
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (52, 147, 26),
    (187, 212, 0),
    (168, 153, 44),
    (255, 194, 0),
]


def draw_detections(image: np.ndarray, detections: Iterable[Detection]) -> np.ndarray:
    """A copy of the BGR image with every detection's box and `label score` drawn on it."""
    out = image.copy()
    thickness = max(1, round(min(out.shape[:2]) / 300))
    scale = max(0.4, min(out.shape[:2]) / 900)
    for det in detections:
        colour = _PALETTE[det.class_id % len(_PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in det.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = f"{det.label} {det.score:.2f}" + (f" #{det.track_id}" if det.track_id is not None else "")
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), colour, -1)
        cv2.putText(
            out, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    return out
