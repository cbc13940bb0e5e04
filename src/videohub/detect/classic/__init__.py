"""Detectors that need no model weights, so a fresh install detects real things.

  * `HogPeopleDetector`  people, OpenCV's built-in HOG + linear SVM (Dalal & Triggs 2005)
  * `MotionDetector`     moving regions, a MOG2 background model per stream, and a
                         sub-millisecond `motion_score` gate
  * `FireDetector`       flames, Chen et al.'s (2004) colour rule plus temporal flicker

All follow `videohub.detect.base.Detector` (batch in, batch out, boxes in source pixels,
provider "opencv"). Motion and fire are stateful: `detect(images, keys=...)` takes one
stream key (e.g. a camera id) per image and keeps separate state per key. Strengths,
weaknesses and measured costs: docs/detectors.md.
"""

from videohub.detect.classic._common import DEFAULT_KEY
from videohub.detect.classic.fire import FireDetector, fire_colour_mask
from videohub.detect.classic.hog import HogPeopleDetector, margin_to_score, score_to_margin
from videohub.detect.classic.motion import MotionDetector

__all__ = [
    "DEFAULT_KEY",
    "FireDetector",
    "HogPeopleDetector",
    "MotionDetector",
    "fire_colour_mask",
    "margin_to_score",
    "score_to_margin",
]
