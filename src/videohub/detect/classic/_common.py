"""Helpers shared by the classic detectors: input checks, downscaling, box maths and
per-stream state."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import cv2
import numpy as np

# Key used when a caller passes no `keys`: all images then belong to one stream.
DEFAULT_KEY: Hashable = "default"

S = TypeVar("S")


def check_image(image: object, index: int) -> np.ndarray:
    """The image as a HxWx3 uint8 array, or a ValueError that says which image and why."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image {index}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image {index}: expected HxWx3 uint8 BGR, got shape {image.shape} dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image {index}: empty image of shape {image.shape}")
    return image


def stream_keys(count: int, keys: Sequence[Hashable] | None) -> list[Hashable]:
    """One stream key per image; all images share DEFAULT_KEY when none are given."""
    if keys is None:
        return [DEFAULT_KEY] * count
    if len(keys) != count:
        raise ValueError(f"got {count} images but {len(keys)} keys; pass one key per image")
    return list(keys)


def downscale(image: np.ndarray, max_width: int | None) -> tuple[np.ndarray, float]:
    """`image` shrunk to at most `max_width` columns (never enlarged), and the factor that
    maps its pixels back to the source (source = work * factor)."""
    width = image.shape[1]
    if max_width is None or width <= max_width:
        return image, 1.0
    factor = width / max_width
    height = max(1, round(image.shape[0] / factor))
    # INTER_AREA averages the pixels it drops: no aliasing, and it evens out sensor noise.
    return cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA), factor


def to_source_box(
    x1: float, y1: float, x2: float, y2: float, factor: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """A box in working pixels mapped back to the source image and clipped to it."""
    return (
        float(min(max(x1 * factor, 0.0), width)),
        float(min(max(y1 * factor, 0.0), height)),
        float(min(max(x2 * factor, 0.0), width)),
        float(min(max(y2 * factor, 0.0), height)),
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, containment: float = 1.0) -> list[int]:
    """Greedy non-maximum suppression; indices of kept boxes, best first.

    `boxes` is Nx4 (x1, y1, x2, y2). A box is dropped when its IoU with a better box is
    above `iou_threshold`, or when more than `containment` of its own area lies inside a
    better box (a sliding-window detector often fires on a person and on a larger window
    around the same person; their IoU can stay below any sane IoU threshold).
    """
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        ih = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        inside = inter / np.maximum(areas[rest], 1e-9)
        order = rest[(iou <= iou_threshold) & (inside <= containment)]
    return keep


class StreamStates(Generic[S]):
    """Per-stream state for a detector shared by many cameras.

    Each key has its own lock, so frames of different cameras are processed in parallel
    (OpenCV releases the GIL) while frames of one camera are processed one at a time, in
    the order they arrive. State is created on first use by `factory`.
    """

    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._states: dict[Hashable, tuple[threading.Lock, S]] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[S]:
        with self._lock:
            entry = self._states.get(key)
            if entry is None:
                entry = (threading.Lock(), self._factory())
                self._states[key] = entry
        lock, state = entry
        with lock:
            yield state

    def reset(self, key: Hashable | None = None) -> None:
        """Forget one stream's state (a camera that went away), or every stream's."""
        with self._lock:
            if key is None:
                self._states.clear()
            else:
                self._states.pop(key, None)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._states)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)
