"""`CameraSource`: the one upstream connection of one camera.

A thread opens the camera with PyAV, demuxes, hands every packet to the channel (for the
restream and HLS, without re-encoding) and, while anyone wants pictures, decodes into the
channel's latest-frame slot. On any failure — refused, unreachable, stalled without the
socket closing (PyAV's read timeout), corrupt data, end of stream — it reports the masked
error and tries again after a capped, jittered exponential delay, for ever, until stopped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Protocol

import av

from videohub.config import StreamOptions
from videohub.rtsp.feed import AccessUnit, CodecConfig
from videohub.rtsp.h264 import annexb_config, avcc_config
from videohub.secrets import mask_text, mask_url, url_secrets

log = logging.getLogger("videohub.streams")


class SourceOutput(Protocol):
    """Where a source delivers (the camera's channel)."""

    camera_id: str

    def wants_frames(self) -> bool: ...
    def on_connecting(self) -> None: ...
    def on_connected(self, codec: str, width: int, height: int) -> None: ...
    def on_codec_config(self, config: CodecConfig) -> None: ...
    def on_packet(self, unit: AccessUnit | None, size: int) -> None: ...
    def on_frame(self, video_frame: Any, ts: float) -> None: ...
    def on_decode_error(self) -> None: ...
    def on_disconnected(self, error: str) -> None: ...


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before reconnect number `attempt` (0-based): exponential, capped, with jitter so
    that hundreds of cameras behind one failed switch do not reconnect in lockstep."""
    base = min(cap, initial * 2.0 ** min(attempt, 32))  # a float power overflows past 2**1023
    return base * (rng or random).uniform(0.5, 1.0)


class CameraSource:
    def __init__(self, url: str, options: StreamOptions, output: SourceOutput) -> None:
        self._url = url
        self._options = options
        self._out = output
        self._secrets = url_secrets(url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"source-{output.camera_id}", daemon=True)

    @property
    def masked_url(self) -> str:
        return mask_url(self._url)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Asks the reader to close. A reader blocked on a stalled socket closes when its
        read timeout fires; we do not wait longer than `wait` for it."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(wait)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _open_options(self) -> dict[str, str]:
        o = self._options
        opts = {"analyzeduration": "2000000", "probesize": "1000000"}
        # FFmpeg's own socket timeout in microseconds, beside PyAV's interrupt-based one.
        # Its name differs by protocol: for rtmp, `timeout` would mean "listen for a
        # publisher for that long", so everything but RTSP gets the generic rw_timeout.
        io_timeout = str(int(o.read_timeout * 1_000_000))
        if self._url.lower().startswith(("rtsp://", "rtsps://")):
            opts["rtsp_transport"] = o.rtsp_transport
            opts["timeout"] = io_timeout
            opts["fflags"] = "nobuffer"  # live RTP needs no probe buffer; MP4 demuxing breaks with it
        else:
            opts["rw_timeout"] = io_timeout
        return opts

    def _run(self) -> None:
        attempt = 0
        last_error: str | None = None
        while not self._stop.is_set():
            self._out.on_connecting()
            error: str | None = None
            got_data = False
            try:
                got_data = self._session()
            except (av.FFmpegError, OSError, EOFError, ValueError, RuntimeError) as exc:
                error = self._describe(exc)
            except Exception as exc:  # a reader must never die: log it and try again
                error = self._describe(exc)
                log.error("camera %s: unexpected reader error: %s", self._out.camera_id, error)
            if self._stop.is_set():
                break  # stopping is the channel's doing; it records the state itself
            if error is None:
                error = "stream ended"
            if got_data:
                attempt = 0
            delay = backoff_delay(attempt, self._options.reconnect_initial, self._options.reconnect_max)
            attempt += 1
            # A camera that stays down would fill the log: warn when the error changes only.
            level = logging.WARNING if error != last_error else logging.DEBUG
            log.log(level, "camera %s: %s; reconnecting in %.1fs", self._out.camera_id, error, delay)
            last_error = error
            self._out.on_disconnected(error)
            self._stop.wait(delay)

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, av.ExitError):
            text = f"no data for {self._options.read_timeout:g}s (stalled or unreachable)"
        return mask_text(text, self._secrets)

    def _session(self) -> bool:
        """One connection, until it fails or we are stopped. Returns whether any data came,
        which resets the backoff."""
        o = self._options
        container: Any = av.open(self._url, options=self._open_options(), timeout=(o.connect_timeout, o.read_timeout))
        got_data = False
        try:
            if self._stop.is_set():
                return False  # stopped while connecting: report nothing into the channel
            if not container.streams.video:
                raise ValueError("the stream has no video track")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            ctx.thread_count = o.decode_threads
            codec = ctx.name
            to_annexb = None
            if codec == "h264":
                extradata = ctx.extradata or b""
                if extradata[:1] == b"\x01":
                    # avcC (RTMP, MP4 over HTTP): length-prefixed NALs; the restream and HLS want Annex B.
                    to_annexb = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
                    config = avcc_config(extradata)
                else:
                    config = annexb_config(extradata)
                if config:
                    self._out.on_codec_config(config)
            self._out.on_connected(codec, ctx.width, ctx.height)
            time_base = float(stream.time_base) if stream.time_base else 1 / 90000
            for packet in container.demux(stream):
                if self._stop.is_set():
                    break
                if packet.size == 0:
                    continue
                now = time.time()
                got_data = True
                frames = self._decode(packet) if self._out.wants_frames() else []
                if codec == "h264":
                    # The filter takes the packet's data (PyAV 18), so it runs after decoding.
                    for p in to_annexb.filter(packet) if to_annexb else (packet,):
                        pts = p.pts if p.pts is not None else p.dts
                        unit = AccessUnit(bytes(p), (pts or 0) * time_base, bool(p.is_keyframe))
                        if unit.keyframe:
                            found = annexb_config(unit.data)
                            if found:
                                self._out.on_codec_config(found)
                        self._out.on_packet(unit, p.size)
                else:
                    self._out.on_packet(None, packet.size)  # counted, but only H.264 is remuxed
                for vf in frames:
                    self._out.on_frame(vf, now)
            return got_data
        finally:
            container.close()

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return list(packet.decode())
        except av.FFmpegError:
            # A corrupt packet spoils one picture, not the connection.
            self._out.on_decode_error()
            return []
