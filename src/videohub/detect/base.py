"""What every detector returns and promises: the contract between detection backends and
the engine, the API and the event rules.

Backends differ (onnxruntime YOLO on CPU or GPU, OpenCV's HOG people detector, motion,
fire); what they hand on does not: a batch of BGR images in, one list of `Detection`s per
image out, boxes in the pixels of the image that went in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in source-image pixels
    track_id: int | None = None


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes (0 for degenerate ones)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class ModelError(Exception):
    """A model that cannot be used; the message names the file and what is wrong."""


class Detector(Protocol):
    name: str  # e.g. the model file's stem, or "hog-people"
    labels: list[str]  # class names, indexed by class_id
    input_size: tuple[int, int] | None  # (height, width) the model runs at; None if any size
    provider: str  # what runs it: "CUDAExecutionProvider", "CPUExecutionProvider", "opencv"...

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """One list of detections per HxWx3 uint8 BGR image, in the same order."""
        ...
