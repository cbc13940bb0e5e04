"""Per-camera health: what an operator needs to see whether a camera is working."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

State = Literal["connecting", "online", "offline", "disabled", "idle"]


class RateMeter:
    """Events per second over a sliding window of the last few seconds."""

    def __init__(self, window: float = 3.0) -> None:
        self._window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = now - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        with self._lock:
            self._times.clear()


@dataclass
class HealthSnapshot:
    """One camera's health at one moment; served as JSON by the API."""

    state: State
    fps: float
    frames_received: int
    frames_decoded: int
    frames_dropped: int
    decode_errors: int
    reconnects: int
    last_frame_time: float | None
    last_error: str | None
    connected_since: float | None
    codec: str | None
    width: int | None
    height: int | None
    bytes_received: int
    viewers: int
    packet_consumers: int
    upstream_connected: bool


class HealthCounters:
    """Mutable counters a camera's reader thread updates; read as a `HealthSnapshot`."""

    def __init__(self) -> None:
        self.state: State = "idle"
        self.input_rate = RateMeter()
        self.frames_received = 0
        self.frames_decoded = 0
        self.decode_errors = 0
        self.reconnects = 0
        self.bytes_received = 0
        self.last_frame_time: float | None = None
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self.codec: str | None = None
        self.width: int | None = None
        self.height: int | None = None
