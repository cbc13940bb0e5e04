"""`StreamHub`: one channel per registered camera, one upstream connection per channel,
whatever the number of consumers.

Consumers take a `Lease` ("frames" for viewers and analytics, "packets" for the restream
and HLS). A camera that is not `on_demand` is pulled as long as it is enabled; an
on-demand camera is pulled from its first lease until `idle_release` seconds after its
last lease ends. A janitor thread does the releasing, so no request ever waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal

from videohub.config import CameraSpec, StreamOptions
from videohub.rtsp.feed import CodecConfig, MediaFeed, Sink
from videohub.streams.channel import CameraChannel

log = logging.getLogger("videohub.streams")

LeaseKind = Literal["frames", "packets"]


class CameraNotFound(KeyError):
    pass


class Lease:
    """A consumer's claim on a camera; release it (or use `with`) when done."""

    def __init__(self, hub: StreamHub, channel: CameraChannel, kind: LeaseKind) -> None:
        self._hub, self.channel, self.kind = hub, channel, kind
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._hub._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class _Subscription:
    """A restream client's hold on a camera: a packets lease plus a packet sink."""

    def __init__(self, hub: StreamHub, camera_id: str, sink: Sink) -> None:
        self._lease = hub.acquire(camera_id, "packets")
        self._key: int | None = self._lease.channel.add_sink(sink)

    def wait_config(self, timeout: float) -> CodecConfig | None:
        return self._lease.channel.wait_config(timeout, cancelled=lambda: self._key is None)

    def close(self) -> None:
        if self._key is not None:
            self._lease.channel.remove_sink(self._key)
            self._key = None
            self._lease.channel.wake_waiters()
        self._lease.release()


class _CameraFeed:
    def __init__(self, hub: StreamHub, camera_id: str) -> None:
        self._hub, self._camera_id = hub, camera_id

    def subscribe(self, sink: Sink) -> _Subscription:
        return _Subscription(self._hub, self._camera_id, sink)


class StreamHub:
    def __init__(self, defaults: StreamOptions, janitor_interval: float = 0.25) -> None:
        self._defaults = defaults
        self._channels: dict[str, CameraChannel] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._janitor = threading.Thread(
            target=self._janitor_loop, args=(janitor_interval,), daemon=True, name="hub-janitor"
        )
        self._janitor.start()

    # --- registry side ----------------------------------------------------------------
    def apply(self, spec: CameraSpec) -> bool:
        """Adds a camera, or takes a changed spec; returns whether the reader restarted.

        A change of metadata only (name, tags, codes...) keeps the connection. A change of
        how the camera is pulled restarts the reader; consumers stay. The old reader is
        waited for outside the hub's lock, so other cameras' requests never wait on it.
        """
        options = self._defaults.merged(spec.stream)
        with self._lock:
            channel = self._channels.get(spec.id)
            if channel is None:
                channel = self._channels[spec.id] = CameraChannel(spec, options)
                old = None
            elif channel.pulls_the_same_as(spec, options):
                channel.spec = spec
                return False
            else:
                old = channel.detach_source()
                channel.spec, channel.options = spec, options
                channel.health.state = "idle" if spec.enabled else "disabled"
        if old is not None:
            old.stop(wait=2.0)  # cameras that allow one session need the old one gone first
        with self._lock:
            if self._channels.get(spec.id) is channel and channel.should_run():
                channel.start_source()
        return True

    def remove(self, camera_id: str) -> None:
        with self._lock:
            channel = self._channels.pop(camera_id, None)
        if channel is not None:
            channel.removed = True
            channel.stop_source()

    # --- consumers ----------------------------------------------------------------------
    def channel(self, camera_id: str) -> CameraChannel:
        try:
            return self._channels[camera_id]
        except KeyError:
            raise CameraNotFound(camera_id) from None

    def channels(self) -> list[CameraChannel]:
        with self._lock:
            return list(self._channels.values())

    def acquire(self, camera_id: str, kind: LeaseKind) -> Lease:
        with self._lock:
            channel = self.channel(camera_id)
            if kind == "frames":
                channel.frame_consumers += 1
            else:
                channel.packet_consumers += 1
            if channel.should_run():
                channel.start_source()
            return Lease(self, channel, kind)

    def _release(self, lease: Lease) -> None:
        with self._lock:
            channel = lease.channel
            if lease.kind == "frames":
                channel.frame_consumers -= 1
            else:
                channel.packet_consumers -= 1
            if channel.consumers == 0:
                channel.idle_since = time.monotonic()

    def feed(self, camera_id: str) -> MediaFeed | None:
        """The restream's view of a camera (None if unknown or disabled: the server says 404)."""
        channel = self._channels.get(camera_id)
        if channel is None or not channel.spec.enabled:
            return None
        return _CameraFeed(self, camera_id)

    def upstream_connections(self) -> int:
        return sum(1 for c in self.channels() if c.upstream_connected)

    # --- lifecycle ----------------------------------------------------------------------
    def _janitor_loop(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            now = time.monotonic()
            for channel in self.channels():
                idle = channel.consumers == 0 and now - channel.idle_since >= channel.options.idle_release
                if channel.source is not None and channel.spec.on_demand and idle:
                    with self._lock:
                        if channel.consumers != 0:
                            continue
                        log.info(
                            "camera %s: no consumers for %.0fs, releasing",
                            channel.camera_id,
                            channel.options.idle_release,
                        )
                        channel.detach_source()

    def stop(self, wait: float = 5.0) -> None:
        """Closes every upstream connection, waiting up to `wait` seconds in all."""
        self._stopping.set()
        sources = [s for s in (c.detach_source() for c in self.channels()) if s is not None]
        deadline = time.monotonic() + wait
        for source in sources:
            source.stop(max(0.0, deadline - time.monotonic()))
        self._janitor.join(1)
