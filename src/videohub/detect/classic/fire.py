"""Flame detection by a published colour rule plus temporal flicker, per stream.

Colour: the RGB/saturation rule of T.-H. Chen, P.-H. Wu and Y.-C. Chiou, "An early
fire-detection method based on image processing", Proc. IEEE ICIP 2004, pp. 1707-1710.
A pixel is fire-coloured when

    rule 1:  R > R_T
    rule 2:  R >= G > B
    rule 3:  S >= (255 - R) * S_T / R_T

with S the HSI saturation 1 - 3 * min(R, G, B) / (R + G + B) in percent (0..100). The
paper gives R_T in 115..135 and S_T in 55..65 without stating S's scale; percent is our
reading (at R = R_T rule 3 then asks S >= about S_T %). We take the middle of both
ranges: R_T = 125, S_T = 60.

Flicker: colour alone also accepts sunsets, red cars, orange clothes and sodium lights.
Flames are turbulent: a pixel at a flame keeps switching between brighter and darker
(the flame edge flickers at roughly 10 Hz; Toreyin, Dedeoglu, Gudukbay and Cetin,
"Computer vision based method for real-time fire and flame detection", Pattern
Recognition Letters 27(1), 2006, count such back-and-forth changes; Chen et al. verify
candidates by the "disorder" of the flame region over time). We count, per pixel, in how
many of the last `history - 1` frame-to-frame steps of the same stream its grey level
changed by at least `flicker_delta`; a pixel flickers when that count reaches
`min_changes`. A rigid object that moves past a pixel changes it about twice (arrive,
leave); a flame changes it again and again.

Regions: connected regions of fire-coloured pixels (after a small closing) of at least
`min_area` of the frame; score = the fraction of the region's fire-coloured pixels that
flicker. Regions scoring below `min_score` are not reported. Smoke is out of scope.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from videohub.detect.base import Detection
from videohub.detect.classic._common import StreamStates, check_image, downscale, stream_keys, to_source_box


def fire_colour_mask(image: np.ndarray, r_threshold: float = 125.0, s_threshold: float = 60.0) -> np.ndarray:
    """Chen et al. (2004) fire-colour rule on a BGR uint8 image; a HxW bool mask."""
    bgr = image.astype(np.float32)
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    total = b + g + r
    lowest = np.minimum(np.minimum(b, g), r)
    # Rule 3 with S = 100 * (1 - 3 * min / sum) multiplied through by the (positive) sum,
    # so there is no division and black pixels (sum 0) simply fail.
    saturated = 100.0 * (total - 3.0 * lowest) >= (255.0 - r) * (s_threshold / r_threshold) * total
    return (r > r_threshold) & (r >= g) & (g > b) & saturated & (total > 0)


@dataclass
class _FireState:
    shape: tuple[int, int] | None = None
    previous: np.ndarray | None = None  # grey image of the previous frame
    ring: np.ndarray | None = None  # (history - 1, h, w) uint8: 1 where a step changed
    count: np.ndarray | None = None  # (h, w) uint8: sum of ring, kept up to date
    slot: int = 0
    diff: np.ndarray | None = None  # reused buffer


class FireDetector:
    """Flickering fire-coloured regions, label "fire" (class 0), one flicker history per key.

    `detect(images, keys)` feeds each image to the history of its key (e.g. the camera id;
    all images belong to one stream when `keys` is None) in batch order. Nothing can be
    reported before a key has seen `min_changes + 1` frames (flicker needs a history).
    The rule needs frames sampled at a few per second or more: flicker is judged on
    consecutive frames of the key, whatever time lies between them.

    Parameters:
      min_score: smallest fraction of a region's fire-coloured pixels that flicker.
      min_area: smallest region, as a fraction of the frame area (fire-coloured pixels).
      r_threshold, s_threshold: R_T and S_T of Chen et al.'s rule (see the module doc).
      history: frames of flicker history per key (history - 1 frame-to-frame steps).
      flicker_delta: grey-level change (0..255) that counts as a change.
      min_changes: changes within the history for a pixel to flicker.
      work_width: frames are shrunk to this width first.
    """

    labels: list[str]
    input_size: tuple[int, int] | None
    provider: str
    name: str

    def __init__(
        self,
        *,
        min_score: float = 0.2,
        min_area: float = 0.0005,
        r_threshold: float = 125.0,
        s_threshold: float = 60.0,
        history: int = 8,
        flicker_delta: int = 12,
        min_changes: int = 3,
        work_width: int = 320,
        name: str = "fire-colour-flicker",
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        if not 0.0 <= min_area < 1.0:
            raise ValueError(f"min_area is a fraction of the frame area in [0, 1), got {min_area}")
        if not 3 <= history <= 255:
            raise ValueError(f"history must be in 3..255 frames, got {history}")
        if not 1 <= min_changes <= history - 1:
            raise ValueError(f"min_changes must be in 1..history-1 ({history - 1}), got {min_changes}")
        if not 0 < flicker_delta < 255:
            raise ValueError(f"flicker_delta must be in 1..254, got {flicker_delta}")
        if work_width < 16:
            raise ValueError(f"work_width must be >= 16, got {work_width}")
        self.name = name
        self.labels = ["fire"]
        self.input_size = None
        self.provider = "opencv"
        self.min_score = min_score
        self.min_area = min_area
        self.r_threshold = r_threshold
        self.s_threshold = s_threshold
        self.history = history
        self.flicker_delta = flicker_delta
        self.min_changes = min_changes
        self.work_width = work_width
        self._states: StreamStates[_FireState] = StreamStates(_FireState)
        # Closing joins the tongues of one flame into one region before it is boxed.
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def detect(self, images: Sequence[np.ndarray], keys: Sequence[Hashable] | None = None) -> list[list[Detection]]:
        """One list of fire boxes per image; `keys[i]` names the stream of `images[i]`."""
        checked = [check_image(image, i) for i, image in enumerate(images)]
        stream = stream_keys(len(checked), keys)
        out: list[list[Detection]] = []
        for image, key in zip(checked, stream, strict=True):
            with self._states.hold(key) as state:
                out.append(self._detect_one(image, state))
        return out

    def reset(self, key: Hashable | None = None) -> None:
        """Forget the flicker history of one stream (a removed camera), or of every stream."""
        self._states.reset(key)

    def _update_flicker(self, grey: np.ndarray, state: _FireState) -> np.ndarray:
        """Advance the key's change history by one frame; the per-pixel change count."""
        shape = (grey.shape[0], grey.shape[1])
        if state.shape != shape or state.previous is None or state.ring is None or state.count is None:
            # First frame of the key (or a new resolution): start an empty history.
            state.shape = shape
            state.previous = grey
            state.ring = np.zeros((self.history - 1, *shape), np.uint8)
            state.count = np.zeros(shape, np.uint8)
            state.diff = np.empty(shape, np.uint8)
            state.slot = 0
            return state.count
        assert state.diff is not None
        changed = state.diff
        cv2.absdiff(grey, state.previous, dst=changed)
        cv2.threshold(changed, self.flicker_delta - 1, 1, cv2.THRESH_BINARY, dst=changed)
        oldest = state.ring[state.slot]
        # count stays in 0..history-1, so uint8 arithmetic cannot wrap.
        cv2.subtract(state.count, oldest, dst=state.count)
        cv2.add(state.count, changed, dst=state.count)
        oldest[...] = changed
        state.slot = (state.slot + 1) % (self.history - 1)
        state.previous = grey
        return state.count

    def _detect_one(self, image: np.ndarray, state: _FireState) -> list[Detection]:
        height, width = image.shape[:2]
        work, factor = downscale(image, self.work_width)
        grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        count = self._update_flicker(grey, state)
        colour = fire_colour_mask(work, self.r_threshold, self.s_threshold)
        if not colour.any():
            return []
        colour_u8 = colour.view(np.uint8)
        regions = cv2.morphologyEx(colour_u8, cv2.MORPH_CLOSE, self._close)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(regions, connectivity=8)
        if n <= 1:
            return []
        flat = labels.ravel()
        coloured = np.bincount(flat, weights=colour.ravel(), minlength=n)
        flickering = np.bincount(flat, weights=(colour & (count >= self.min_changes)).ravel(), minlength=n)
        min_pixels = max(1.0, self.min_area * work.shape[0] * work.shape[1])
        found: list[Detection] = []
        for i in range(1, n):  # label 0 is the background
            if coloured[i] < min_pixels:
                continue
            score = float(flickering[i] / coloured[i])
            if score < self.min_score or score <= 0.0:
                continue
            x, y, w, h = (int(v) for v in stats[i, :4])
            found.append(Detection("fire", 0, score, to_source_box(x, y, x + w, y + h, factor, width, height)))
        found.sort(key=lambda d: d.score, reverse=True)
        return found
