"""People detection with OpenCV's built-in HOG + linear SVM pedestrian model.

The model (`cv2.HOGDescriptor.getDefaultPeopleDetector()`) is Dalal & Triggs' detector,
"Histograms of Oriented Gradients for Human Detection" (CVPR 2005), trained on the INRIA
person set: upright, mostly unoccluded, standing or walking people seen roughly from the
side or front, at least about 96 pixels tall in the image it runs on. It ships inside
OpenCV, so it works on a fresh install with no weights to download.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from videohub.detect.base import Detection
from videohub.detect.classic._common import check_image, downscale, nms, to_source_box

# A 64x128 INRIA training window holds a person about 96 px tall, centred with a 16 px
# margin above and below; we cut the window to a 40x96 body box (the 0.41 width/height
# ratio pedestrian benchmarks use), so boxes hug people like a YOLO "person" box does.
_SHRINK_X = 12 / 64
_SHRINK_Y = 16 / 128


def margin_to_score(margin: float) -> float:
    """SVM margin -> score in [0, 1): 1 - exp(-margin), and 0 at or below the boundary.

    The SVM's decision value is 0 on its decision boundary and grows with confidence;
    real people typically score margins of 1 to 3 (score 0.63 to 0.95), while clutter
    that barely passes sits near 0. The map is monotone, so a `min_score` is exactly a
    margin threshold (see `score_to_margin`). It is not a calibrated probability.
    """
    return 0.0 if margin <= 0 else 1.0 - math.exp(-margin)


def score_to_margin(score: float) -> float:
    """Inverse of `margin_to_score` for scores in [0, 1)."""
    return -math.log(1.0 - score)


class HogPeopleDetector:
    """OpenCV HOG pedestrian detector behind the `Detector` contract: label "person", class 0.

    Frames wider than `max_width` are shrunk first (HOG cost grows with the pixel count
    and with the number of pyramid levels; see docs/detectors.md for measured costs), and
    boxes are mapped back to source pixels. Because the model's window is 64x128 with the
    person about 96 px tall, the smallest person found is about 96 * (source width /
    max_width) source pixels tall.

    Parameters:
      min_score: groups whose best window scores below it are dropped (score =
        1 - exp(-SVM margin), see `margin_to_score`).
      max_width: downscale frames wider than this first; None runs at full size.
      scale: pyramid step between detection scales (smaller finds more, costs more).
      win_stride: step of the sliding window in pixels, (x, y); a multiple of 8.
      padding: pixels of padding around the image, so people at the border are found.
      group_threshold: OpenCV groups overlapping windows and drops groups of this many
        windows or fewer (a person fires many neighbouring windows, clutter few).
      nms_iou: non-max suppression between the grouped boxes, by IoU; a box more than
        80 % inside a better one is dropped as well.
    """

    labels: list[str]
    input_size: tuple[int, int] | None
    provider: str
    name: str

    def __init__(
        self,
        *,
        min_score: float = 0.4,
        max_width: int | None = 640,
        scale: float = 1.05,
        win_stride: tuple[int, int] = (8, 8),
        padding: tuple[int, int] = (8, 8),
        group_threshold: int = 2,
        nms_iou: float = 0.4,
        name: str = "hog-people",
    ) -> None:
        if not 0.0 <= min_score < 1.0:
            raise ValueError(f"min_score must be in [0, 1), got {min_score}")
        if max_width is not None and max_width < 64:
            raise ValueError(f"max_width must be at least the 64 px HOG window, got {max_width}")
        if scale <= 1.0:
            raise ValueError(f"scale must be > 1, got {scale}")
        if win_stride[0] <= 0 or win_stride[1] <= 0 or win_stride[0] % 8 or win_stride[1] % 8:
            raise ValueError(f"win_stride must be positive multiples of the 8 px HOG cell, got {win_stride}")
        if padding[0] < 0 or padding[1] < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        if group_threshold < 0:
            raise ValueError(f"group_threshold must be >= 0, got {group_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou}")
        self.name = name
        self.labels = ["person"]
        self.input_size = None  # any size; large frames are shrunk to max_width internally
        self.provider = "opencv"
        self.min_score = min_score
        self.max_width = max_width
        self.scale = scale
        self.win_stride = win_stride
        self.padding = padding
        self.group_threshold = group_threshold
        self.nms_iou = nms_iou
        # detectMultiScale is a const method; one descriptor can serve several threads.
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        checked = [check_image(image, i) for i, image in enumerate(images)]
        return [self._detect_one(image) for image in checked]

    def _detect_one(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        work, factor = downscale(image, self.max_width)
        if work.shape[0] < 128 or work.shape[1] < 64:
            # Smaller than one detection window (even with padding OpenCV would find nothing
            # useful); say nothing rather than guess.
            return []
        rects, weights = self._hog.detectMultiScale(
            work,
            # Every window on the positive side of the SVM takes part in grouping (a person
            # is recognised by many neighbouring windows agreeing); min_score is applied to
            # the groups afterwards. Cutting windows at min_score first would starve the
            # groups and lose whole people at scales where few windows clear the bar.
            hitThreshold=0.0,
            winStride=self.win_stride,
            padding=self.padding,
            scale=self.scale,
            groupThreshold=self.group_threshold,
        )
        if len(rects) == 0:
            return []
        xywh = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        margins = np.asarray(weights, dtype=np.float64).reshape(-1)
        x, y, w, h = xywh[:, 0], xywh[:, 1], xywh[:, 2], xywh[:, 3]
        boxes = np.stack(
            [x + w * _SHRINK_X, y + h * _SHRINK_Y, x + w * (1 - _SHRINK_X), y + h * (1 - _SHRINK_Y)], axis=1
        )
        out: list[Detection] = []
        for i in nms(boxes, margins, self.nms_iou, containment=0.8):
            score = margin_to_score(float(margins[i]))
            if score < self.min_score:
                continue
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            box = to_source_box(x1, y1, x2, y2, factor, width, height)
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            out.append(Detection("person", 0, score, box))
        return out
