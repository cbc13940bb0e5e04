"""A synthetic camera: a moving test pattern rendered with numpy/OpenCV, encoded live."""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

import cv2
import numpy as np

from videohub.rtsp.feed import AccessUnit
from videohub.simulate.base import SimulatedFeed, logger
from videohub.simulate.encoder import H264Encoder

_MAX_LAG = 1.0  # seconds behind schedule before we stop trying to catch up


class FrameRenderer(Protocol):
    """What a synthetic feed draws its frames with."""

    def render(self, index: int, fps: float, wall_time: float) -> np.ndarray:
        """The HxWx3 uint8 BGR image of frame `index` (`wall_time` for burnt-in clocks)."""
        ...


class PatternRenderer:
    """Draws the frames of a PatternFeed.

    Content is chosen to exercise the hub: moving shapes and a walking figure for motion
    and tracking, a drifting bright region for brightness-based detectors, and burnt-in
    name / frame counter / wall clock so a human (or a test) can see latency and freezes.
    """

    def __init__(self, width: int, height: int, name: str) -> None:
        self.width = width
        self.height = height
        self.name = name
        self._background = self._make_background()
        self._scale = max(height / 720.0, 0.25)

    def _make_background(self) -> np.ndarray:
        h, w = self.height, self.width
        y = np.linspace(40, 110, h, dtype=np.float32)[:, None]
        x = np.linspace(0, 50, w, dtype=np.float32)[None, :]
        bg = np.empty((h, w, 3), np.uint8)
        bg[..., 0] = (y + x).astype(np.uint8)  # blue-ish sky-to-ground gradient
        bg[..., 1] = (y * 0.8 + x * 0.5).astype(np.uint8)
        bg[..., 2] = (y * 0.6).astype(np.uint8)
        step = max(16, w // 16)
        bg[:, ::step] = (90, 90, 90)
        bg[::step, :] = (90, 90, 90)
        # Colour bars along the bottom: a static reference for colour and compression.
        bars = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255), (0, 0, 255), (255, 0, 0)]
        bar_h = max(4, h // 12)
        bar_w = w / len(bars)
        for i, colour in enumerate(bars):
            bg[h - bar_h :, int(i * bar_w) : int((i + 1) * bar_w)] = colour
        return bg

    def render(self, index: int, fps: float, wall_time: float) -> np.ndarray:
        """The BGR image of frame `index`."""
        img = self._background.copy()
        h, w = self.height, self.width
        t = index / fps
        s = self._scale
        # A bright, soft region drifting across the upper half.
        bx = int((0.5 + 0.4 * math.sin(t * 0.3)) * w)
        by = int((0.3 + 0.1 * math.cos(t * 0.5)) * h)
        cv2.circle(img, (bx, by), int(60 * s) + 2, (200, 230, 255), -1, cv2.LINE_AA)
        cv2.circle(img, (bx, by), int(35 * s) + 1, (245, 250, 255), -1, cv2.LINE_AA)
        # A circle on a Lissajous path and a bouncing rectangle.
        cx = int((0.5 + 0.35 * math.sin(t * 1.1)) * w)
        cy = int((0.5 + 0.3 * math.sin(t * 1.7)) * h)
        cv2.circle(img, (cx, cy), int(40 * s) + 2, (40, 40, 220), -1, cv2.LINE_AA)
        rw, rh = int(120 * s) + 4, int(70 * s) + 4
        period_x, period_y = max(2, 2 * (w - rw)), max(2, 2 * (h - rh))
        px = int(t * 180 * s) % period_x
        py = int(t * 110 * s) % period_y
        rx = px if px < w - rw else period_x - px
        ry = py if py < h - rh else period_y - py
        cv2.rectangle(img, (rx, ry), (rx + rw, ry + rh), (30, 200, 60), -1)
        self._draw_walker(img, t)
        # Burnt-in text: camera name, frame counter, wall clock with milliseconds.
        font = cv2.FONT_HERSHEY_SIMPLEX
        fs = 1.0 * s
        th = max(1, int(2 * s))
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall_time)) + f".{int(wall_time * 1000) % 1000:03d}"
        lines = (self.name, f"frame {index}", clock)
        for i, text in enumerate(lines):
            org = (int(12 * s) + 2, int((40 + 38 * i) * s) + 8)
            cv2.putText(img, text, org, font, fs, (0, 0, 0), th + 2, cv2.LINE_AA)
            cv2.putText(img, text, org, font, fs, (255, 255, 255), th, cv2.LINE_AA)
        return img

    def _draw_walker(self, img: np.ndarray, t: float) -> None:
        """A stick figure walking left to right across the lower part of the frame."""
        h, w = self.height, self.width
        s = self._scale
        height = 160 * s + 10
        x = int((t * 80 * s) % (w + 100) - 50)
        foot_y = int(h * 0.85)
        hip = (x, int(foot_y - height * 0.45))
        neck = (x, int(foot_y - height * 0.85))
        swing = math.sin(t * 6.0) * height * 0.2
        colour = (20, 20, 20)
        th = max(2, int(6 * s))
        cv2.circle(img, (x, int(foot_y - height * 0.93)), max(3, int(height * 0.08)), colour, -1, cv2.LINE_AA)
        cv2.line(img, neck, hip, colour, th, cv2.LINE_AA)
        cv2.line(img, hip, (int(x + swing), foot_y), colour, th, cv2.LINE_AA)
        cv2.line(img, hip, (int(x - swing), foot_y), colour, th, cv2.LINE_AA)
        arm_y = int(foot_y - height * 0.7)
        cv2.line(img, (x, arm_y), (int(x - swing), int(arm_y + height * 0.25)), colour, th, cv2.LINE_AA)
        cv2.line(img, (x, arm_y), (int(x + swing), int(arm_y + height * 0.25)), colour, th, cv2.LINE_AA)


class PatternFeed(SimulatedFeed):
    """A simulated live camera: test pattern, H.264 via libx264, paced in real time.

    The encoder runs only while somebody is subscribed. `pts` of every access unit is its
    scheduled capture time on the monotonic clock, so it is steady and always increasing.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: int = 25,
        gop: int | None = None,
        bitrate: int | None = None,
        name: str = "cam",
    ) -> None:
        super().__init__(name)
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"pattern size must be positive and even, got {width}x{height}")
        if not 0 < fps <= 120:
            raise ValueError(f"pattern fps must be in 1..120, got {fps}")
        self.width = width
        self.height = height
        self.fps = fps
        self.gop = gop if gop is not None else fps
        if self.gop <= 0:
            raise ValueError(f"gop must be positive, got {self.gop}")
        self.bitrate = bitrate
        self._renderer = self._make_renderer()
        self._frame_index = 0
        self._force_key = False

    def _make_renderer(self) -> FrameRenderer:
        """Hook: what draws the frames (called once size and name are set and checked)."""
        return PatternRenderer(self.width, self.height, self.name)

    def _on_resume(self) -> None:
        self._force_key = True  # clients resume at once instead of waiting for the GOP

    def _produce(self, stop: threading.Event) -> None:
        encoder = H264Encoder(self.width, self.height, self.fps, self.gop, self.bitrate)
        period = 1.0 / self.fps
        next_t = time.monotonic()
        try:
            while not stop.is_set():
                if self.paused:
                    # Stalled: render nothing, like a camera whose encoder hung.
                    stop.wait(period)
                    next_t = time.monotonic()
                    continue
                delay = next_t - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                image = self._renderer.render(self._frame_index, self.fps, time.time())
                i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
                force, self._force_key = self._force_key, False
                for data, keyframe in encoder.encode(i420, force_key=force):
                    if keyframe and self._config is None:
                        config = encoder.config_from(data)
                        if config is not None:
                            self._set_config(config)
                    self._publish(AccessUnit(data=data, pts=next_t, keyframe=keyframe))
                self._frame_index += 1
                next_t += period
                if time.monotonic() - next_t > _MAX_LAG:
                    logger.warning("feed %s: encoding cannot keep up with %d fps", self.name, self.fps)
                    next_t = time.monotonic()
        finally:
            encoder.close()
