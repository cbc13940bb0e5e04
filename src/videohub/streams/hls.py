"""HLS made by remuxing a camera's H.264 into MPEG-TS segments, without re-encoding.

A session starts when a player first asks for a camera's playlist and ends after
`idle_timeout` seconds without a request; while it runs it holds one "packets" lease, so
it shares the camera's single upstream connection with everyone else.
"""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import shutil
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from videohub.config import HlsConfig
from videohub.rtsp.feed import AccessUnit, CodecConfig
from videohub.streams.hub import Lease, StreamHub

log = logging.getLogger("videohub.hls")

_START = b"\x00\x00\x00\x01"
_CLOCK = 90000


class HlsUnavailable(Exception):
    """The camera cannot be served as HLS right now; the message says why."""


class HlsSession:
    def __init__(self, hub: StreamHub, camera_id: str, cfg: HlsConfig, folder: Path) -> None:
        self.camera_id = camera_id
        self.folder = folder
        self._cfg = cfg
        self._queue: queue.Queue[AccessUnit] = queue.Queue(maxsize=256)
        self._stop = threading.Event()
        self.error: str | None = None
        self._resync = False
        self.last_access = time.monotonic()
        self._lease: Lease = hub.acquire(camera_id, "packets")
        self._sink_key = self._lease.channel.add_sink(self._on_unit)
        self._thread = threading.Thread(target=self._run, name=f"hls-{camera_id}", daemon=True)
        self._thread.start()

    @property
    def playlist(self) -> Path:
        return self.folder / "index.m3u8"

    def touch(self) -> None:
        self.last_access = time.monotonic()

    def _on_unit(self, unit: AccessUnit) -> None:
        # When the writer falls behind, drop until the next key frame: a segment that
        # misses a P-frame would show garbage until then anyway.
        if self._resync and not unit.keyframe:
            return
        try:
            self._queue.put_nowait(unit)
            self._resync = False
        except queue.Full:
            self._resync = True

    async def wait_ready(self, timeout: float) -> bool:
        """Waits until the first segment and the playlist exist (or the session failed).
        A coroutine, so that many waiting players hold no worker threads."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.playlist.exists() or self.error or not self._thread.is_alive():
                break
            await asyncio.sleep(0.05)
        return self.playlist.exists()

    def read(self, name: str) -> bytes | None:
        """A playlist or segment file, or None if it is gone (deleted from the live window)."""
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None

    def _run(self) -> None:
        channel = self._lease.channel
        config = channel.wait_config(channel.options.connect_timeout + 5, cancelled=self._stop.is_set)
        if self._stop.is_set():
            return
        if config is None:
            codec = channel.health.codec
            self.error = (
                f"camera stream is {codec}, HLS remuxing needs H.264"
                if codec and codec != "h264"
                else "camera delivered no H.264 parameter sets (offline?)"
            )
            return
        try:
            self._mux(config)
        except Exception as exc:  # report through the API; other cameras are unaffected
            self.error = f"HLS muxing failed: {exc}"
            log.warning("camera %s: %s", self.camera_id, self.error)

    def _next_keyframe(self) -> AccessUnit | None:
        while not self._stop.is_set():
            try:
                unit = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if unit.keyframe:
                return unit
        return None

    def _mux(self, config: CodecConfig) -> None:
        first = self._next_keyframe()
        if first is None:
            return
        # FFmpeg's H.264 parser reads size and profile from the first key frame, which
        # gives the muxer its stream parameters without opening an encoder.
        head = _START + config.sps + _START + config.pps + first.data
        probe: Any = av.open(io.BytesIO(head), format="h264")
        cfg = self._cfg
        out: Any = av.open(
            str(self.playlist),
            "w",
            format="hls",
            options={
                "hls_time": f"{cfg.segment_seconds:g}",
                "hls_list_size": str(cfg.list_size),
                "hls_flags": "delete_segments+independent_segments+temp_file",
                "hls_segment_filename": str(self.folder / "seg%05d.ts"),
            },
        )
        try:
            stream = out.add_stream_from_template(probe.streams.video[0])
            stream.time_base = Fraction(1, _CLOCK)
            probe.close()
            ts, last_pts = 0, -1
            prev: AccessUnit | None = None
            unit: AccessUnit | None = first
            while unit is not None and not self._stop.is_set():
                if prev is not None:
                    # Source timestamps jump on a reconnect; keep the output clock steady.
                    step = unit.pts - prev.pts
                    ts += round(step * _CLOCK) if 0 < step < 1.0 else _CLOCK // 25
                pts = max(ts, last_pts + 1)
                data = head if unit is first else unit.data
                packet = av.Packet(data)
                packet.stream = stream
                packet.time_base = stream.time_base
                packet.pts = packet.dts = pts
                packet.is_keyframe = unit.keyframe
                out.mux(packet)
                last_pts, prev = pts, unit
                unit = self._get()
        finally:
            out.close()

    def _get(self) -> AccessUnit | None:
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
        return None

    def close(self) -> None:
        self._stop.set()
        self._lease.channel.wake_waiters()
        self._lease.channel.remove_sink(self._sink_key)
        self._lease.release()
        self._thread.join(3)
        shutil.rmtree(self.folder, ignore_errors=True)


class HlsManager:
    """Starts a session per camera on demand and stops the idle ones."""

    def __init__(self, hub: StreamHub, cfg: HlsConfig, root: Path | None = None) -> None:
        self._hub, self._cfg = hub, cfg
        self._root = Path(tempfile.mkdtemp(prefix="videohub-hls-", dir=root))
        self._sessions: dict[str, HlsSession] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._janitor = threading.Thread(target=self._reap, name="hls-janitor", daemon=True)
        self._janitor.start()

    def session(self, camera_id: str) -> HlsSession:
        """The running session of a camera, started if needed (raises CameraNotFound)."""
        with self._lock:
            session = self._sessions.get(camera_id)
            if session is not None and session.error:
                self._sessions.pop(camera_id).close()
                session = None
            if session is None:
                # A folder of its own: a closing session deletes its folder after the lock is
                # released, and must not take a new session's segments with it.
                folder = Path(tempfile.mkdtemp(prefix=f"{camera_id}-", dir=self._root))
                session = self._sessions[camera_id] = HlsSession(self._hub, camera_id, self._cfg, folder)
            session.touch()
            return session

    def existing(self, camera_id: str) -> HlsSession | None:
        with self._lock:
            session = self._sessions.get(camera_id)
        if session is not None:
            session.touch()
        return session

    def active(self) -> int:
        return len(self._sessions)

    def _reap(self) -> None:
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            with self._lock:
                idle = [
                    cid for cid, s in self._sessions.items() if now - s.last_access > self._cfg.idle_timeout or s.error
                ]
                closing = [self._sessions.pop(cid) for cid in idle]
            for session in closing:
                log.info("camera %s: HLS idle, stopping", session.camera_id)
                session.close()

    def close_camera(self, camera_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(camera_id, None)
        if session is not None:
            session.close()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        shutil.rmtree(self._root, ignore_errors=True)
