"""FileFeed: H.264 pass-through, re-encoding of other codecs, looping, errors, RTSP."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

import av
import pytest

from tests.simulate.conftest import decode
from videohub.rtsp.feed import AccessUnit
from videohub.rtsp.h264 import NAL_IDR, NAL_PPS, NAL_SPS, avcc_to_nals, nal_type, parse_avcc, split_annexb
from videohub.rtsp.server import RtspServer
from videohub.simulate.file import FileFeed, MediaFileError


def collect(q: queue.Queue[AccessUnit], count: int, timeout: float = 5.0) -> list[AccessUnit]:
    out: list[AccessUnit] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        try:
            out.append(q.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    return out


def file_nals(path: Path) -> list[list[bytes]]:
    """The NAL units of every video packet of an MP4, straight from the container."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        length_size = parse_avcc(stream.codec_context.extradata or b"").length_size
        return [avcc_to_nals(bytes(p), length_size) for p in container.demux(stream) if p.size]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        FileFeed(missing)


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(MediaFileError, match="junk.mp4"):
        FileFeed(junk)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaFileError, match="empty.mp4"):
        FileFeed(empty)


def test_h264_passes_through_without_reencoding(h264_mp4: Path) -> None:
    feed = FileFeed(h264_mp4, name="clip")
    assert feed.passthrough and feed.codec_name == "h264"
    assert feed.config is not None and (feed.config.width, feed.config.height) == (320, 240)
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert sub.wait_config(1.0) == feed.config
        units = collect(q, 10)
    finally:
        sub.close()
        feed.close()
    assert len(units) == 10
    source = file_nals(h264_mp4)
    for au, nals in zip(units, source, strict=True):
        served = split_annexb(au.data)
        # The very same slices; only SPS/PPS are added in front of key frames.
        assert [n for n in served if nal_type(n) not in (NAL_SPS, NAL_PPS)] == [
            n for n in nals if nal_type(n) not in (NAL_SPS, NAL_PPS)
        ]
        if au.keyframe:
            types = [nal_type(n) for n in served]
            assert NAL_SPS in types and NAL_PPS in types and NAL_IDR in types
    frames = decode(units)
    assert len(frames) == 10
    assert {(f.width, f.height) for f in frames} == {(320, 240)}


def test_loops_with_increasing_pts(h264_mp4: Path) -> None:
    feed = FileFeed(h264_mp4)  # 10 frames at 20 fps: one loop is 0.5 s
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        units = collect(q, 25)
    finally:
        sub.close()
        feed.close()
    assert len(units) == 25
    steps = [b.pts - a.pts for a, b in zip(units, units[1:], strict=False)]
    assert all(abs(s - 0.05) < 1e-6 for s in steps), steps  # seamless across the loop seam
    assert units[10].keyframe and units[20].keyframe  # each loop restarts at the file's first IDR
    assert len(decode(units)) == 25


def test_no_loop_plays_once(h264_mp4: Path) -> None:
    feed = FileFeed(h264_mp4, loop=False)
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert len(collect(q, 10)) == 10
        assert collect(q, 1, timeout=0.4) == []
    finally:
        sub.close()
        feed.close()


def test_other_codecs_are_reencoded_to_h264(mpeg4_avi: Path) -> None:
    feed = FileFeed(mpeg4_avi)
    assert not feed.passthrough and feed.codec_name == "mpeg4"
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        config = sub.wait_config(5.0)
        assert config is not None and (config.width, config.height) == (320, 240)
        units = collect(q, 12)
    finally:
        sub.close()
        feed.close()
    assert units[0].keyframe
    frames = decode(units)
    assert len(frames) == 12 and frames[0].width == 320


def test_pause_and_resume_on_a_key_frame(h264_mp4: Path) -> None:
    feed = FileFeed(h264_mp4)
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert len(collect(q, 3)) == 3
        feed.pause()
        time.sleep(0.06)
        while not q.empty():
            q.get_nowait()
        assert collect(q, 1, timeout=0.4) == []
        feed.resume()
        units = collect(q, 2)
        assert len(units) == 2 and units[0].keyframe
    finally:
        sub.close()
        feed.close()


def test_file_served_over_rtsp(h264_mp4: Path) -> None:
    feed = FileFeed(h264_mp4, name="clip")
    server = RtspServer({"clip": feed}.get, host="127.0.0.1", port=0)
    server.start()
    try:
        opts = {"rtsp_transport": "tcp", "analyzeduration": "200000"}
        with av.open(server.url("clip"), options=opts, timeout=10) as container:
            sizes = []
            for frame in container.decode(video=0):
                sizes.append((frame.width, frame.height))
                if len(sizes) == 15:  # more than the file holds: crosses the loop seam
                    break
        assert sizes == [(320, 240)] * 15
    finally:
        server.stop()
        feed.close()
