"""A simulated camera that plays a video file in real time, looping."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from videohub.rtsp.feed import AccessUnit, CodecConfig
from videohub.rtsp.h264 import (
    AvccConfig,
    avcc_to_nals,
    find_parameter_sets,
    join_annexb,
    parse_avcc,
    split_annexb,
    with_parameter_sets,
)
from videohub.simulate.base import SimulatedFeed, logger
from videohub.simulate.encoder import H264Encoder

_MAX_LAG = 1.0  # seconds behind schedule before the schedule is moved instead of caught up
_PROBE_PACKETS = 300


class MediaFileError(ValueError):
    """A video file that cannot be served (corrupt, no video, undecodable)."""


class FileFeed(SimulatedFeed):
    """Serves a video file as a live camera, paced by its timestamps.

    H.264 is passed through untouched apart from the container framing: MP4/MKV store
    length-prefixed NALs (AVCC) with SPS/PPS in the ``avcC`` extradata, so we rewrite to
    Annex B and put the parameter sets in front of every key frame. Any other codec is
    decoded and re-encoded with libx264. Access-unit pts follow the monotonic clock of
    the playback schedule, so they keep increasing across loops.

    A file whose H.264 uses B-frames is passed through as it is; its pts then follow
    presentation order, as RTP requires, and are not monotonic in sending order.
    """

    def __init__(self, path: str | Path, loop: bool = True, name: str | None = None) -> None:
        self.path = Path(path)
        super().__init__(name or self.path.stem)
        self.loop = loop
        if not self.path.is_file():
            raise FileNotFoundError(errno.ENOENT, "video file not found", str(self.path))
        self.codec_name = ""
        self.width = 0
        self.height = 0
        self.fps = 25.0
        self.passthrough = False
        self._avcc: AvccConfig | None = None
        self._probe()
        self._force_key = False

    # ---------------------------------------------------------------- probing

    def _error(self, what: str) -> MediaFileError:
        return MediaFileError(f"cannot serve video file {self.path}: {what}")

    def _probe(self) -> None:
        """Open the file once now, so a bad file fails at construction, naming the file."""
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise self._error(str(exc)) from exc
        try:
            if not container.streams.video:
                raise self._error("it has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            self.codec_name = ctx.name
            self.width, self.height = ctx.width, ctx.height
            rate = stream.average_rate or stream.guessed_rate
            if rate:
                self.fps = float(rate)
            self.passthrough = self.codec_name == "h264"
            sps = pps = None
            extradata = ctx.extradata or b""
            if self.passthrough and extradata:
                if extradata[0] == 1:
                    try:
                        self._avcc = parse_avcc(extradata)
                    except ValueError as exc:
                        raise self._error(f"bad avcC extradata ({exc})") from exc
                    sps = self._avcc.sps[0] if self._avcc.sps else None
                    pps = self._avcc.pps[0] if self._avcc.pps else None
                else:
                    sps, pps = find_parameter_sets(split_annexb(extradata))
            decoded = False
            for count, packet in enumerate(container.demux(stream)):
                if count >= _PROBE_PACKETS:
                    break
                if packet.size == 0:
                    continue
                if self.passthrough and (sps is None or pps is None) and packet.is_keyframe:
                    sps, pps = find_parameter_sets(self._nals(bytes(packet)))
                if packet.is_keyframe or decoded:
                    try:
                        decoded = decoded or bool(ctx.decode(packet))
                    except av.error.FFmpegError:
                        continue
                if decoded and (not self.passthrough or (sps and pps)):
                    break
            if not decoded:
                raise self._error("no decodable video frame found")
            if self.passthrough:
                if sps is None or pps is None:
                    raise self._error("H.264 stream without SPS/PPS")
                self._set_config(CodecConfig(sps=sps, pps=pps, width=self.width, height=self.height))
        except av.error.FFmpegError as exc:
            raise self._error(str(exc)) from exc
        finally:
            container.close()
        logger.debug(
            "file feed %s: %s %dx%d @ %.2f fps (%s)",
            self.name,
            self.codec_name,
            self.width,
            self.height,
            self.fps,
            "pass-through" if self.passthrough else "re-encode",
        )

    def _nals(self, data: bytes) -> list[bytes]:
        if self._avcc is not None:
            return avcc_to_nals(data, self._avcc.length_size)
        return split_annexb(data)

    # ---------------------------------------------------------------- producing

    def _on_resume(self) -> None:
        self._force_key = True  # re-encoding: restart with an IDR; pass-through waits for one

    def _produce(self, stop: threading.Event) -> None:
        encoder: H264Encoder | None = None
        if not self.passthrough:
            fps = max(1, round(self.fps))
            encoder = H264Encoder(self.width - self.width % 2, self.height - self.height % 2, fps, fps)
        origin = time.monotonic()
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    played = self._play_once(stop, origin, encoder)
                except (av.error.FFmpegError, ValueError) as exc:
                    logger.warning("feed %s: error reading %s: %s", self.name, self.path, exc)
                    played = None
                if stop.is_set() or not self.loop:
                    break
                if not played:
                    # Nothing played (or an error): do not spin on a broken file.
                    if stop.wait(max(0.0, 1.0 - (time.monotonic() - started))):
                        break
                    origin = time.monotonic()
                else:
                    origin += played
        finally:
            if encoder is not None:
                encoder.close()

    def _pace(self, stop: threading.Event, target: float) -> bool:
        """Sleep until `target`; False if asked to stop meanwhile."""
        delay = target - time.monotonic()
        return not (delay > 0 and stop.wait(delay))

    def _play_once(self, stop: threading.Event, origin: float, encoder: H264Encoder | None) -> float | None:
        """Play the file once from `origin`; returns its length in seconds (None if stopped)."""
        frame_time = 1.0 / self.fps if self.fps > 0 else 0.04
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            tb = stream.time_base or Fraction(1, 90000)
            first: float | None = None
            offset = -frame_time
            items = self._passthrough_units(container, stream, tb) if encoder is None else None
            frames = container.decode(stream) if encoder is not None else None
            for item in items if items is not None else self._decoded(frames):
                ts, pts_delta, payload = item
                if ts is None:
                    offset += frame_time
                else:
                    if first is None:
                        first = ts
                    offset = ts - first
                target = origin + offset
                if not self._pace(stop, target):
                    return None
                lag = time.monotonic() - target
                if lag > _MAX_LAG:  # we fell behind (CPU starved): move the schedule
                    origin += lag
                    target += lag
                if encoder is None:
                    assert isinstance(payload, AccessUnit)
                    self._publish(AccessUnit(payload.data, target + pts_delta, payload.keyframe))
                else:
                    assert isinstance(payload, av.VideoFrame)
                    force, self._force_key = self._force_key, False
                    for data, key in encoder.encode_frame(payload, force_key=force):
                        if key and self._config is None:
                            config = encoder.config_from(data)
                            if config is not None:
                                self._set_config(config)
                        self._publish(AccessUnit(data, target, key))
        return None if first is None and offset < 0 else offset + frame_time

    def _decoded(
        self, frames: Iterator[av.VideoFrame] | None
    ) -> Iterator[tuple[float | None, float, av.VideoFrame | AccessUnit]]:
        assert frames is not None
        for frame in frames:
            yield frame.time, 0.0, frame

    def _passthrough_units(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, tb: Fraction
    ) -> Iterator[tuple[float | None, float, av.VideoFrame | AccessUnit]]:
        config = self._config
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            nals = self._nals(bytes(packet))
            if not nals:
                continue
            if packet.is_keyframe and config is not None:
                nals = with_parameter_sets(nals, config.sps, config.pps)
            dts = packet.dts if packet.dts is not None else packet.pts
            pts_delta = 0.0
            if packet.pts is not None and packet.dts is not None:
                pts_delta = float((packet.pts - packet.dts) * tb)
            ts = float(dts * tb) if dts is not None else None
            yield ts, pts_delta, AccessUnit(join_annexb(nals), 0.0, bool(packet.is_keyframe))
