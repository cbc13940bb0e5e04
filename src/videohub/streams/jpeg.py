"""JPEG encoding shared by every viewer of a camera: each frame is encoded once per size."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import cv2
import numpy as np

from videohub.streams.frame import Frame


class SharedJpeg:
    """Caches the newest encodings of a camera, keyed by (frame, width, quality).

    Viewers of one camera ask for the same frame at about the same time; the lock makes
    the second one wait for the first encoding instead of repeating it. OpenCV releases
    the GIL while it encodes, so other cameras are not held up.
    """

    def __init__(self, keep: int = 8) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int, int, Hashable], bytes] = OrderedDict()
        self._keep = keep
        self.encodes = 0

    @staticmethod
    def _key(frame: Frame, width: int | None, quality: int, overlay_key: Hashable) -> tuple[int, int, int, Hashable]:
        return (frame.seq, width if width and width < frame.width else frame.width, quality, overlay_key)

    def cached(
        self, frame: Frame, width: int | None = None, quality: int = 80, overlay_key: Hashable = None
    ) -> bytes | None:
        """The encoding if it exists already; never blocks (a dict read is atomic)."""
        return self._cache.get(self._key(frame, width, quality, overlay_key))

    def encode(
        self,
        frame: Frame,
        width: int | None = None,
        quality: int = 80,
        overlay_key: Hashable = None,
        overlay: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> bytes:
        """JPEG of the frame, scaled down to `width`; `overlay` draws on the full-size image
        first, and `overlay_key` names what it draws, so equal overlays share one encoding."""
        key = self._key(frame, width, quality, overlay_key)
        target = key[1]
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            image = frame.image if overlay is None else overlay(frame.image)
            if target != frame.width:
                height = max(2, round(frame.height * target / frame.width))
                image = cv2.resize(image, (target, height), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            data = buf.tobytes()
            self.encodes += 1
            self._cache[key] = data
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)
            return data
