"""Real RTSP clients (PyAV/FFmpeg, OpenCV, ffprobe) against the server and a test pattern."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import av
import cv2
import pytest

from videohub.rtsp.server import RtspServer

# A short analysis window: the SDP carries everything FFmpeg needs, so probing 1 s of
# video (the default) only slows the tests down.
FAST_OPEN = {"analyzeduration": "200000"}


def decode_frames(url: str, count: int, transport: str = "tcp") -> list[tuple[int, int]]:
    """Open `url` with PyAV and return the sizes of the first `count` decoded frames."""
    sizes: list[tuple[int, int]] = []
    with av.open(url, options={"rtsp_transport": transport, **FAST_OPEN}, timeout=10) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        for frame in container.decode(stream):
            sizes.append((frame.width, frame.height))
            if len(sizes) >= count:
                break
    return sizes


def wait_sessions(server: RtspServer, count: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.session_count() == count:
            return True
        time.sleep(0.02)
    return server.session_count() == count


def test_pyav_decodes_over_tcp(server: RtspServer) -> None:
    assert decode_frames(server.url("cam1"), 20) == [(320, 240)] * 20
    assert wait_sessions(server, 0)  # PyAV sent TEARDOWN on close


def test_pyav_decodes_over_udp(server: RtspServer) -> None:
    assert decode_frames(server.url("cam1"), 10, transport="udp") == [(320, 240)] * 10
    assert wait_sessions(server, 0)


def test_pyav_frames_carry_steady_timestamps(server: RtspServer) -> None:
    with av.open(server.url("cam1"), options={"rtsp_transport": "tcp", **FAST_OPEN}, timeout=10) as container:
        times: list[float] = []
        for frame in container.decode(video=0):
            # FFmpeg's RTSP demuxer leaves the very first frame without a pts; skip it.
            if frame.time is not None:
                times.append(frame.time)
            if len(times) == 10:
                break
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(abs(step - 0.04) < 1e-3 for step in steps), steps  # 25 fps


def test_opencv_reads_frames(server: RtspServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
    cap = cv2.VideoCapture(server.url("cam1"), cv2.CAP_FFMPEG, params)
    try:
        assert cap.isOpened()
        shapes = []
        for _ in range(5):
            ok, image = cap.read()
            assert ok
            shapes.append(image.shape)
        assert shapes == [(240, 320, 3)] * 5
        assert server.session_count() == 1
    finally:
        cap.release()
    assert wait_sessions(server, 0)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ffprobe_reports_h264_and_size(server: RtspServer, ffprobe: str, transport: str) -> None:
    cmd = [ffprobe, "-v", "error", "-rtsp_transport", transport, "-show_streams", "-of", "json", server.url("cam1")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    streams = json.loads(result.stdout)["streams"]
    assert len(streams) == 1
    assert streams[0]["codec_name"] == "h264"
    assert (streams[0]["width"], streams[0]["height"]) == (320, 240)
    assert wait_sessions(server, 0)


def test_several_clients_at_once(server: RtspServer) -> None:
    results: dict[int, object] = {}
    # Hold every client open until all have decoded, so they really overlap.
    barrier = threading.Barrier(4, timeout=20)

    def client(i: int) -> None:
        try:
            sizes: list[tuple[int, int]] = []
            transport = "udp" if i == 3 else "tcp"
            with av.open(
                server.url("cam1"), options={"rtsp_transport": transport, **FAST_OPEN}, timeout=10
            ) as container:
                for frame in container.decode(video=0):
                    sizes.append((frame.width, frame.height))
                    if len(sizes) >= 10:
                        break
                if i == 0:
                    results["peak"] = server.session_count()
                barrier.wait()
            results[i] = sizes
        except Exception as exc:  # reported by the main thread
            results[i] = exc
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for i in range(4):
        assert results.get(i) == [(320, 240)] * 10, results.get(i)
    assert wait_sessions(server, 0)


def test_pyav_client_with_credentials_in_url(server: RtspServer) -> None:
    url = f"rtsp://viewer:pw@127.0.0.1:{server.port}/cam1"
    assert decode_frames(url, 3) == [(320, 240)] * 3


def test_unplugged_pyav_client_is_cleaned_up(server: RtspServer) -> None:
    """A client that vanishes without TEARDOWN (killed process) must not leak its session."""
    code = (
        "import av, os, sys\n"
        "c = av.open(sys.argv[1], options={'rtsp_transport': 'tcp', 'analyzeduration': '200000'}, timeout=10)\n"
        "next(c.decode(video=0))\n"
        "print('decoded', flush=True)\n"
        "os._exit(0)\n"  # no TEARDOWN, no close
    )
    result = subprocess.run(
        [sys.executable, "-c", code, server.url("cam1")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "decoded" in result.stdout, result.stderr
    assert wait_sessions(server, 0)
