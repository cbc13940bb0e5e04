"""A low-latency libx264 encoder producing Annex B access units, via PyAV."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from videohub.rtsp.feed import CodecConfig
from videohub.rtsp.h264 import find_parameter_sets, split_annexb


class H264Encoder:
    """Encodes I420 frames to H.264 for live streaming.

    ultrafast + zerolatency: one packet out per frame in, no B-frames, no lookahead.
    Without the global-header flag libx264 repeats SPS/PPS in-band before every IDR, so
    the output is plain Annex B that any client can join at a key frame. Key frames come
    exactly every `gop` frames (scene-cut detection off), or when forced.
    """

    def __init__(self, width: int, height: int, fps: int, gop: int, bitrate: int | None = None) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"frame size must be positive and even, got {width}x{height}")
        if fps <= 0 or gop <= 0:
            raise ValueError("fps and gop must be positive")
        self.width = width
        self.height = height
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, fps)
        ctx.framerate = Fraction(fps)
        ctx.gop_size = gop
        ctx.max_b_frames = 0
        # Small frames encode fastest on one thread; big ones benefit from sliced threads.
        ctx.thread_count = 1 if width * height <= 640 * 480 else 0
        if bitrate:
            ctx.bit_rate = bitrate
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:aud=0",
        }
        self._ctx = ctx
        self._pts = 0

    def encode(self, i420: np.ndarray, force_key: bool = False) -> list[tuple[bytes, bool]]:
        """Encode one frame given as an I420 array (height*3/2 x width); (data, keyframe) out."""
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        return self.encode_frame(frame, force_key)

    def encode_frame(self, frame: av.VideoFrame, force_key: bool = False) -> list[tuple[bytes, bool]]:
        """Encode a PyAV frame (converted to the encoder's size and yuv420p if needed)."""
        if frame.format.name != "yuv420p" or frame.width != self.width or frame.height != self.height:
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = self._pts
        self._pts += 1
        frame.pict_type = PictureType.I if force_key else PictureType.NONE
        return [(bytes(p), bool(p.is_keyframe)) for p in self._ctx.encode(frame)]

    def config_from(self, data: bytes) -> CodecConfig | None:
        """The CodecConfig carried in-band by a key frame's access unit, if any."""
        sps, pps = find_parameter_sets(split_annexb(data))
        if sps is None or pps is None:
            return None
        return CodecConfig(sps=sps, pps=pps, width=self.width, height=self.height)

    def close(self) -> None:
        """Flush and drop the encoder (any delayed packets are discarded: this is live)."""
        with contextlib.suppress(av.error.FFmpegError):
            self._ctx.encode(None)
