"""Moving-region detection by background subtraction, one background model per stream.

Two tools with two costs:
  * `MotionDetector.detect` keeps an adaptive Gaussian-mixture background model
    (OpenCV's MOG2, Zivkovic 2004/2006) per stream key and reports boxes around the
    regions that differ from it, label "motion".
  * `MotionDetector.motion_score` is a much cheaper gate: the fraction of pixels that
    changed since the previous frame of the same key, on a tiny grey image. An engine can
    call it first and skip an expensive model when nothing moved. The same gate is
    available without a detector as `MotionGate`, and as the process-wide module
    function `motion_score(image, key)`.
Both are stateful; a detector shared by many cameras keeps separate state per key.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from videohub.detect.base import Detection
from videohub.detect.classic._common import (
    DEFAULT_KEY,
    StreamStates,
    check_image,
    downscale,
    stream_keys,
    to_source_box,
)

# MOG2 marks foreground 255 and shadows 127; a shadow is not an object, so only >= 200 counts.
_FOREGROUND = 200


@dataclass
class _SubtractorState:
    subtractor: cv2.BackgroundSubtractor
    frames: int = 0
    shape: tuple[int, int] | None = None


@dataclass
class _GateState:
    previous: np.ndarray | None = None
    diff: np.ndarray | None = None  # reused buffer for the difference image


class MotionGate:
    """Cheap per-stream "did anything move?" measure, for gating expensive models.

    `score(image, key)` is the fraction (0..1) of pixels whose grey level changed by more
    than `threshold` since the previous frame of the same key, compared on a
    `width`-pixel-wide grey copy (shrinking averages away sensor noise and makes the cost
    a fraction of a millisecond; measured figures in docs/detectors.md). The first frame
    of a key, or the first after a resolution change, scores 1.0: with nothing to compare,
    "something may have moved" is the safe answer for a gate. Thread-safe; one state per key.
    """

    def __init__(self, *, width: int = 160, threshold: int = 15) -> None:
        if width < 8:
            raise ValueError(f"gate width must be >= 8, got {width}")
        if not 0 < threshold < 255:
            raise ValueError(f"gate threshold must be in 1..254, got {threshold}")
        self.width = width
        self.threshold = threshold
        self._states: StreamStates[_GateState] = StreamStates(_GateState)

    def score(self, image: np.ndarray, key: Hashable = DEFAULT_KEY) -> float:
        image = check_image(image, 0)
        height, width = image.shape[:2]
        small_h = max(1, round(height * self.width / width))
        # Grey first, then shrink: converting the full frame once is cheaper than
        # shrinking three channels (measured), and both run outside the key's lock.
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (self.width, small_h), interpolation=cv2.INTER_AREA)
        with self._states.hold(key) as gate:
            previous = gate.previous
            gate.previous = small
            if previous is None or previous.shape != small.shape:
                gate.diff = None
                return 1.0
            if gate.diff is None or gate.diff.shape != small.shape:
                gate.diff = np.empty_like(small)
            cv2.absdiff(small, previous, dst=gate.diff)
            cv2.threshold(gate.diff, self.threshold, 255, cv2.THRESH_BINARY, dst=gate.diff)
            return cv2.countNonZero(gate.diff) / float(small.size)

    def reset(self, key: Hashable | None = None) -> None:
        """Forget one stream's previous frame, or every stream's."""
        self._states.reset(key)


class MotionDetector:
    """Boxes around moving regions, label "motion" (class 0), one background model per key.

    `detect(images, keys)` feeds each image to the background model of its key (e.g. the
    camera id; all images belong to one stream when `keys` is None) in batch order. The
    first `warmup_frames` frames of a key only teach the model and report nothing.

    Parameters:
      min_area: smallest reported region, as a fraction of the frame area (box area).
      work_width: frames are shrunk to this width before subtraction (cost and noise).
      history, var_threshold, detect_shadows: MOG2's own parameters. Shadows count as
        background.
      learning_rate: MOG2's rate; -1 lets it pick 1/min(2 * frames seen, history).
      warmup_frames: frames per key before anything is reported.
      gate_width: width of the grey image `motion_score` compares.
      gate_threshold: grey-level change (0..255) for a gate pixel to count as changed.

    Scores are the fraction of the box covered by foreground pixels: a solid moving object
    scores near 1, a scatter of noise near 0.
    """

    labels: list[str]
    input_size: tuple[int, int] | None
    provider: str
    name: str

    def __init__(
        self,
        *,
        min_area: float = 0.002,
        work_width: int = 320,
        history: int = 500,
        var_threshold: float = 16.0,
        detect_shadows: bool = True,
        learning_rate: float = -1.0,
        warmup_frames: int = 2,
        gate_width: int = 160,
        gate_threshold: int = 15,
        name: str = "motion",
    ) -> None:
        if not 0.0 <= min_area < 1.0:
            raise ValueError(f"min_area is a fraction of the frame area in [0, 1), got {min_area}")
        if work_width < 16:
            raise ValueError(f"work_width must be >= 16, got {work_width}")
        if warmup_frames < 1:
            raise ValueError(f"warmup_frames must be >= 1 (frame 1 has nothing to compare), got {warmup_frames}")
        self.name = name
        self.labels = ["motion"]
        self.input_size = None
        self.provider = "opencv"
        self.min_area = min_area
        self.work_width = work_width
        self.history = history
        self.var_threshold = var_threshold
        self.detect_shadows = detect_shadows
        self.learning_rate = learning_rate
        self.warmup_frames = warmup_frames
        self._models: StreamStates[_SubtractorState] = StreamStates(self._new_model)
        self._gate = MotionGate(width=gate_width, threshold=gate_threshold)
        # Opening removes isolated noise pixels; closing merges the fragments of one object
        # (a car's body split by its windows) into one region before boxes are taken.
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        close = max(3, (work_width // 64) | 1)
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))

    def _new_model(self) -> _SubtractorState:
        subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=self.detect_shadows
        )
        return _SubtractorState(subtractor)

    def detect(self, images: Sequence[np.ndarray], keys: Sequence[Hashable] | None = None) -> list[list[Detection]]:
        """One list of motion boxes per image; `keys[i]` names the stream of `images[i]`."""
        checked = [check_image(image, i) for i, image in enumerate(images)]
        stream = stream_keys(len(checked), keys)
        out: list[list[Detection]] = []
        for image, key in zip(checked, stream, strict=True):
            with self._models.hold(key) as state:
                out.append(self._detect_one(image, state))
        return out

    def _detect_one(self, image: np.ndarray, state: _SubtractorState) -> list[Detection]:
        height, width = image.shape[:2]
        work, factor = downscale(image, self.work_width)
        shape = (work.shape[0], work.shape[1])
        if state.shape != shape:
            # A camera that changed resolution starts a new model: the old one cannot be reused.
            if state.shape is not None:
                state.subtractor = self._new_model().subtractor
                state.frames = 0
            state.shape = shape
        mask = state.subtractor.apply(work, learningRate=self.learning_rate)
        state.frames += 1
        if state.frames <= self.warmup_frames:
            return []
        _, mask = cv2.threshold(mask, _FOREGROUND, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_pixels = self.min_area * shape[0] * shape[1]
        found: list[Detection] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h < max(min_pixels, 1):
                continue
            score = cv2.countNonZero(mask[y : y + h, x : x + w]) / float(w * h)
            found.append(Detection("motion", 0, float(score), to_source_box(x, y, x + w, y + h, factor, width, height)))
        found.sort(key=lambda d: d.score, reverse=True)
        return found

    def motion_score(self, image: np.ndarray, key: Hashable = DEFAULT_KEY) -> float:
        """Fraction (0..1) of pixels changed since the previous frame of `key`; see `MotionGate`.

        Independent of `detect`'s background models: calling one does not advance the other.
        """
        return self._gate.score(image, key)

    def reset(self, key: Hashable | None = None) -> None:
        """Forget the state of one stream (a removed camera), or of every stream."""
        self._models.reset(key)
        self._gate.reset(key)


# One process-wide gate, for callers that want the gate without a detector instance
# (the analytics sampler uses it as `motion_score(image, camera_id)`).
_shared_gate = MotionGate()


def motion_score(image: np.ndarray, key: Hashable = DEFAULT_KEY) -> float:
    """`MotionGate.score` on a process-wide gate with default settings."""
    return _shared_gate.score(image, key)


def reset_motion_score(key: Hashable | None = None) -> None:
    """Forget the process-wide gate's state for one key (a removed camera), or all."""
    _shared_gate.reset(key)
