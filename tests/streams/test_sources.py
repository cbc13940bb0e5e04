"""Cameras that are not RTSP: RTMP and HTTP (FLV/MP4), whose H.264 comes length-prefixed
(avcC) and must be decoded and converted to Annex B for the restream and HLS."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading

import pytest

from tests.conftest import FAST, free_port, require_tool, wait_for
from tests.simulate.conftest import make_clip
from videohub.config import CameraSpec, StreamOptions
from videohub.rtsp.feed import AccessUnit
from videohub.streams.hub import StreamHub


@pytest.fixture
def hub():
    hub = StreamHub(StreamOptions(**FAST))
    yield hub
    hub.stop()


def check_remuxable(hub: StreamHub, camera_id: str) -> None:
    channel = hub.channel(camera_id)
    units: list[AccessUnit] = []
    key = channel.add_sink(units.append)
    try:
        wait_for(lambda: any(u.keyframe for u in units), what="a key frame for the restream")
    finally:
        channel.remove_sink(key)
    assert all(u.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")) for u in units)  # Annex B
    assert channel.wait_config(1) is not None


def test_rtmp_camera_is_pulled_not_listened_for(hub):
    ffmpeg = require_tool("ffmpeg")
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/cam"
    # FFmpeg as a one-client RTMP server, as a camera or media server would offer the stream.
    server = subprocess.Popen(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-f",
            "flv",
            "-listen",
            "1",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        hub.apply(CameraSpec(id="rtmp", stream_url=url))
        channel = hub.channel("rtmp")
        wait_for(lambda: channel.health.frames_decoded >= 10, what="RTMP frames")
        assert channel.health.state == "online" and channel.health.decode_errors == 0
        check_remuxable(hub, "rtmp")
    finally:
        server.kill()
        server.wait()


def test_http_mp4_camera_decodes_and_remuxes(hub, tmp_path):
    make_clip(tmp_path / "clip.mp4", "libx264", frames=50)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub.apply(CameraSpec(id="mp4", stream_url=f"http://127.0.0.1:{server.server_port}/clip.mp4"))
        channel = hub.channel("mp4")
        wait_for(lambda: channel.health.frames_decoded >= 40, what="decoded MP4 frames")
        assert channel.health.decode_errors == 0
        assert channel.slot.latest().image.shape == (240, 320, 3)
        check_remuxable(hub, "mp4")
    finally:
        server.shutdown()
        server.server_close()
