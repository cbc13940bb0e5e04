"""`Frame`, the unit every stage after decoding passes on, and the bounded slot that holds
the newest one per camera."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import numpy as np


class Frame:
    """One decoded picture: `camera_id`, `ts` (UTC wall-clock seconds when it was received),
    `seq` (per-camera counter) and `image` (HxWx3 uint8 BGR).

    The BGR array is made from the decoder's frame on first use only: a camera decodes
    every frame (P-frames depend on each other) but most are never looked at, and the
    colour conversion would otherwise cost as much as the decoding itself.
    """

    __slots__ = ("camera_id", "ts", "seq", "width", "height", "_image", "_video", "_lock")

    def __init__(self, camera_id: str, ts: float, seq: int, image: np.ndarray | None = None, video: Any = None) -> None:
        if image is None and video is None:
            raise ValueError("a Frame needs an image or a decoded video frame")
        self.camera_id, self.ts, self.seq = camera_id, ts, seq
        self._image, self._video = image, video
        self._lock = threading.Lock()
        if image is not None:
            self.height, self.width = image.shape[:2]
        else:
            self.width, self.height = video.width, video.height

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            with self._lock:
                if self._image is None:
                    # threads=1: PyAV builds a scaler per frame, and by default each one
                    # starts its own thread pool, which costs 5-40% more CPU (bench ingest).
                    self._image = self._video.to_ndarray(format="bgr24", threads=1)
                    self._video = None
        assert self._image is not None
        return self._image


class LatestFrameSlot:
    """Holds only the newest frame. A frame replaced before anyone read it is counted as
    dropped (when `count_drops` says someone is waiting for frames at all); nothing queues."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._read = True
        self.dropped = 0
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def put(self, frame: Frame, count_drops: bool = True) -> None:
        with self._cond:
            if not self._read and count_drops:
                self.dropped += 1
            self._frame, self._read = frame, False
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(event.set)

    def peek(self) -> Frame | None:
        """The newest frame without marking it read (for health and age checks)."""
        return self._frame

    def latest(self) -> Frame | None:
        with self._cond:
            self._read = True
            return self._frame

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """Blocks until a frame with a higher `seq` than given is there, or the timeout passes."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None and self._frame.seq > seq, timeout)
            if self._frame is not None and self._frame.seq > seq:
                self._read = True
                return self._frame
            return None

    async def wait_newer_async(self, seq: int, timeout: float) -> Frame | None:
        """Like `wait_newer`, for coroutines: wakes through the caller's event loop."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        with self._cond:
            if self._frame is not None and self._frame.seq > seq:
                self._read = True
                return self._frame
            self._async_waiters.add(key)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await event.wait()
                    event.clear()
                    with self._cond:
                        if self._frame is not None and self._frame.seq > seq:
                            self._read = True
                            return self._frame
        except TimeoutError:
            return None
        finally:
            with self._cond:
                self._async_waiters.discard(key)
