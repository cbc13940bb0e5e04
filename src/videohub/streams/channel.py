"""`CameraChannel`: everything the hub keeps for one camera while it is registered.

The channel outlives the camera's connections: a reconnect or a config change replaces
the `CameraSource` but keeps the consumers, the latest-frame slot, the shared JPEG cache
and the restream subscribers. It is also the `MediaFeed` the RTSP restream and HLS read.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from videohub.config import CameraSpec, StreamOptions
from videohub.rtsp.feed import AccessUnit, CodecConfig, Sink
from videohub.streams.frame import Frame, LatestFrameSlot
from videohub.streams.health import HealthCounters, HealthSnapshot
from videohub.streams.jpeg import SharedJpeg
from videohub.streams.source import CameraSource


class CameraChannel:
    def __init__(self, spec: CameraSpec, options: StreamOptions) -> None:
        self.camera_id = spec.id
        self.spec = spec
        self.options = options
        self.slot = LatestFrameSlot()
        self.jpeg = SharedJpeg()
        self.health = HealthCounters()
        self.health.state = "disabled" if not spec.enabled else "idle"
        self._lock = threading.RLock()
        self._sinks: dict[int, Sink] = {}
        self._sink_ids = itertools.count()
        self._seq = itertools.count(1)
        self._config: CodecConfig | None = None
        self._config_ready = threading.Condition(self._lock)
        self.frame_consumers = 0
        self.packet_consumers = 0
        self.idle_since: float = time.monotonic()
        self.source: CameraSource | None = None
        self.upstream_connected = False
        self.removed = False  # set when the camera leaves the registry; streams end

    # --- what the hub decides with --------------------------------------------------
    @property
    def consumers(self) -> int:
        return self.frame_consumers + self.packet_consumers

    def should_run(self) -> bool:
        return self.spec.enabled and (not self.spec.on_demand or self.consumers > 0)

    def start_source(self) -> None:
        with self._lock:
            if self.source is None:
                self.source = CameraSource(self.spec.stream_url, self.options, self)
                self.source.start()

    def detach_source(self) -> CameraSource | None:
        """Takes the reader off the channel and tells it to stop, without waiting for it;
        a stopped reader reports nothing more into the channel."""
        with self._lock:
            source, self.source = self.source, None
            self.upstream_connected = False
            self.health.connected_since = None
            self.health.input_rate.reset()
            self.health.state = "idle" if self.spec.enabled else "disabled"
        if source is not None:
            source.stop(wait=0)
        return source

    def stop_source(self, wait: float = 2.0) -> CameraSource | None:
        """Detaches and stops the reader, waiting up to `wait` seconds for it to close."""
        source = self.detach_source()
        if source is not None:
            source.stop(wait)
        return source

    def pulls_the_same_as(self, spec: CameraSpec, options: StreamOptions) -> bool:
        """Whether a new spec leaves the connection as it is (only metadata changed)."""
        old = self.spec
        return (old.stream_url, old.enabled, old.on_demand, self.options) == (
            spec.stream_url,
            spec.enabled,
            spec.on_demand,
            options,
        )

    # --- SourceOutput: called from the reader thread ----------------------------------
    def wants_frames(self) -> bool:
        return not self.spec.on_demand or self.frame_consumers > 0

    def on_connecting(self) -> None:
        if self.health.state != "offline":
            self.health.state = "connecting"

    def on_connected(self, codec: str, width: int, height: int) -> None:
        h = self.health
        h.codec, h.width, h.height = codec, width or None, height or None
        h.connected_since = time.time()
        self.upstream_connected = True

    def on_codec_config(self, config: CodecConfig) -> None:
        with self._lock:
            if config != self._config:
                self._config = config
                self._config_ready.notify_all()

    def on_packet(self, unit: AccessUnit | None, size: int) -> None:
        h = self.health
        h.frames_received += 1
        h.bytes_received += size
        h.last_frame_time = time.time()
        h.input_rate.tick()
        h.state = "online"
        if unit is None:
            return
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            sink(unit)

    def on_frame(self, video_frame: Any, ts: float) -> None:
        self.health.frames_decoded += 1
        frame = Frame(self.camera_id, ts, next(self._seq), video=video_frame)
        self.slot.put(frame, count_drops=self.frame_consumers > 0)

    def on_decode_error(self) -> None:
        self.health.decode_errors += 1

    def on_disconnected(self, error: str) -> None:
        h = self.health
        self.upstream_connected = False
        h.connected_since = None
        h.input_rate.reset()
        h.last_error = error
        h.reconnects += 1
        h.state = "offline"

    # --- packets for the restream and HLS ---------------------------------------------
    def add_sink(self, sink: Sink) -> int:
        with self._lock:
            key = next(self._sink_ids)
            self._sinks[key] = sink
            return key

    def remove_sink(self, key: int) -> None:
        with self._lock:
            self._sinks.pop(key, None)

    def wait_config(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> CodecConfig | None:
        """Waits for the parameter sets; returns early (None if unknown) once `cancelled()`."""
        with self._lock:
            self._config_ready.wait_for(lambda: self._config is not None or cancelled(), timeout)
            return self._config

    def wake_waiters(self) -> None:
        with self._lock:
            self._config_ready.notify_all()

    # --- reading ----------------------------------------------------------------------
    def fresh_frame(self, max_age: float) -> Frame | None:
        frame = self.slot.latest()
        if frame is None or time.time() - frame.ts > max_age:
            return None
        return frame

    def snapshot_health(self) -> HealthSnapshot:
        h = self.health
        return HealthSnapshot(
            state=h.state,
            fps=round(h.input_rate.rate(), 2),
            frames_received=h.frames_received,
            frames_decoded=h.frames_decoded,
            frames_dropped=self.slot.dropped,
            decode_errors=h.decode_errors,
            reconnects=h.reconnects,
            last_frame_time=h.last_frame_time,
            last_error=h.last_error,
            connected_since=h.connected_since,
            codec=h.codec,
            width=h.width,
            height=h.height,
            bytes_received=h.bytes_received,
            viewers=self.frame_consumers,
            packet_consumers=self.packet_consumers,
            upstream_connected=self.upstream_connected,
        )
