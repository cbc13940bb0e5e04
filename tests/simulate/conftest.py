"""Fixtures for the simulated-camera tests: small clips made here with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from videohub.rtsp.feed import AccessUnit


def decode(units: list[AccessUnit]) -> list[av.VideoFrame]:
    """Decodes access units with a fresh H.264 decoder, flushing it at the end."""
    ctx = av.CodecContext.create("h264", "r")
    frames: list[av.VideoFrame] = []
    for au in units:
        frames.extend(ctx.decode(av.Packet(au.data)))
    frames.extend(ctx.decode(None))
    return frames


def make_clip(path: Path, codec: str, frames: int, fps: int = 20, size: tuple[int, int] = (320, 240)) -> Path:
    """Encode a short moving-gradient clip; H.264 goes in with a 5-frame GOP and no B-frames."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec == "libx264":
            stream.codec_context.gop_size = 5
            stream.codec_context.max_b_frames = 0
            stream.options = {"preset": "ultrafast", "x264-params": "keyint=5:min-keyint=5:scenecut=0"}
        x = np.arange(width, dtype=np.uint16)[None, :]
        y = np.arange(height, dtype=np.uint16)[:, None]
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[..., 0] = ((x + 8 * i) % 256).astype(np.uint8)
            img[..., 1] = ((y + 4 * i) % 256).astype(np.uint8)
            img[..., 2] = 128
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def h264_mp4(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", "libx264", frames=10)


@pytest.fixture
def mpeg4_avi(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.avi", "mpeg4", frames=10)
