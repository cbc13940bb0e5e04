"""Unified video access with real clients: MJPEG viewers, snapshots, HLS and the RTSP
restream, all on one upstream connection per camera."""

from __future__ import annotations

import json
import subprocess
import threading

import av
import cv2
import httpx
import numpy as np

from tests.conftest import require_tool, wait_for


def read_mjpeg(base: str, path: str, frames: int, out: list) -> None:
    """Reads `frames` JPEG parts from a multipart MJPEG stream and decodes each one."""
    images = []
    with httpx.stream("GET", base + path, timeout=20) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                headers = buf[:head_end].decode()
                length = int(
                    next(h.split(":")[1] for h in headers.split("\r\n") if h.lower().startswith("content-length"))
                )
                if len(buf) < head_end + 4 + length + 2:
                    break
                jpeg = buf[head_end + 4 : head_end + 4 + length]
                buf = buf[head_end + 4 + length + 2 :]
                images.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
            if len(images) >= frames:
                break
    out.append(images)


def test_ten_viewers_and_a_snapshot_poller_share_one_upstream_connection(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([{"id": "cam", "stream_url": cameras.url("cam"), "on_demand": True}])
    results: list = []
    viewers = [
        threading.Thread(target=read_mjpeg, args=(hub.base, "/api/v1/cameras/cam/mjpeg", 15, results))
        for _ in range(10)
    ]
    for v in viewers:
        v.start()
    snapshots = []
    upstream_seen = set()
    while any(v.is_alive() for v in viewers):
        r = hub.http.get("/api/v1/cameras/cam/snapshot.jpg")
        assert r.status_code == 200
        snapshots.append(r.content)
        upstream_seen.add(cameras.sessions("cam"))
    for v in viewers:
        v.join()
    assert len(results) == 10 and all(len(images) >= 15 for images in results)
    assert all(img is not None and img.shape == (240, 320, 3) for images in results for img in images)
    assert len(snapshots) >= 3
    assert upstream_seen == {1}, f"upstream sessions seen at the camera: {upstream_seen}"
    status = hub.http.get("/api/v1/cameras/cam/status").json()
    channel = hub.runtime.hub.channel("cam")
    received = sum(len(images) for images in results) + len(snapshots)
    # Every frame is encoded once, however many viewers: far fewer encodes than JPEGs served.
    assert channel.jpeg.encodes <= status["frames_decoded"] and channel.jpeg.encodes * 3 < received
    # On demand: released once the viewers are gone.
    wait_for(lambda: cameras.sessions() == 0, timeout=6, what="on-demand release")
    assert hub.http.get("/api/v1/cameras/cam/status").json()["state"] == "idle"


def test_mjpeg_fps_and_width(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([{"id": "cam", "stream_url": cameras.url("cam")}])
    out: list = []
    read_mjpeg(hub.base, "/api/v1/cameras/cam/mjpeg?fps=5&width=160", 3, out)
    assert all(img.shape == (120, 160, 3) for img in out[0])
    assert hub.http.get("/api/v1/cameras/cam/mjpeg?fps=0").status_code == 422
    assert hub.http.get("/api/v1/cameras/nope/mjpeg").status_code == 404


def test_snapshot_of_an_unreachable_camera_is_503_with_reason(live_hub):
    hub = live_hub([{"id": "down", "stream_url": "rtsp://127.0.0.1:1/x", "stream": {"snapshot_wait": 1}}])
    r = hub.http.get("/api/v1/cameras/down/snapshot.jpg")
    assert r.status_code == 503
    body = r.json()
    assert "no frame newer than" in body["detail"] and body["state"] in ("offline", "connecting")


def test_snapshot_opens_an_on_demand_camera(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([{"id": "cam", "stream_url": cameras.url("cam"), "on_demand": True}])
    assert cameras.sessions() == 0
    r = hub.http.get("/api/v1/cameras/cam/snapshot.jpg?width=64")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    wait_for(lambda: cameras.sessions() == 0, timeout=6, what="released after idle")


def decode_frames(url: str, n: int, **options: str) -> list:
    frames = []
    with av.open(url, options=options, timeout=(10, 10)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) >= n:
                break
    return frames


def ffprobe(url: str, *args: str) -> dict:
    exe = require_tool("ffprobe")
    out = subprocess.run(
        [exe, "-v", "error", *args, "-show_streams", "-of", "json", url], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_hls_is_remuxed_and_plays_in_real_clients(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([{"id": "cam", "stream_url": cameras.url("cam"), "on_demand": True}])
    playlist_url = f"{hub.base}/api/v1/cameras/cam/hls/index.m3u8"
    r = hub.http.get("/api/v1/cameras/cam/hls/index.m3u8")
    assert r.status_code == 200 and r.text.startswith("#EXTM3U"), r.text
    segment = next(line for line in r.text.splitlines() if line.endswith(".ts"))
    seg = hub.http.get(f"/api/v1/cameras/cam/hls/{segment}")
    assert seg.status_code == 200 and seg.content[0] == 0x47  # MPEG-TS sync byte
    frames = decode_frames(playlist_url, 20)
    assert len(frames) == 20 and frames[0].shape == (240, 320, 3)
    streams = ffprobe(playlist_url)["streams"]
    assert streams[0]["codec_name"] == "h264" and streams[0]["width"] == 320
    assert cameras.sessions("cam") == 1  # HLS shares the one upstream connection
    assert hub.http.get("/api/v1/cameras/cam/hls/../../x").status_code == 404
    assert hub.http.get("/api/v1/cameras/cam/hls/seg99999.ts").status_code == 404
    # Stopped when unused (idle_timeout 3 s), then the on-demand camera is released.
    wait_for(lambda: hub.runtime.hls.active() == 0, timeout=10, what="HLS stopped")
    wait_for(lambda: cameras.sessions() == 0, timeout=6, what="camera released")


def test_rtsp_restream_plays_in_real_clients_on_one_upstream(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([{"id": "cam", "stream_url": cameras.url("cam", "user:pw1234")}])
    assert hub.runtime.rtsp is not None
    url = hub.runtime.rtsp.url("cam")
    wait_for(lambda: cameras.sessions("cam") == 1, what="hub reader")
    results: list = []
    clients = [
        threading.Thread(target=lambda: results.append(decode_frames(url, 25, rtsp_transport="tcp"))) for _ in range(3)
    ]
    for c in clients:
        c.start()
    streams = ffprobe(url, "-rtsp_transport", "tcp")["streams"]
    for c in clients:
        c.join(30)
    assert streams[0]["codec_name"] == "h264" and (streams[0]["width"], streams[0]["height"]) == (320, 240)
    assert len(results) == 3 and all(len(f) == 25 for f in results)
    assert cameras.sessions("cam") == 1  # still one upstream connection
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        ok, img = cap.read()
        assert ok and img.shape == (240, 320, 3)
    finally:
        cap.release()
    unknown = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", hub.runtime.rtsp.url("nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode != 0 and "404" in unknown.stderr


def test_mjpeg_ends_when_its_camera_is_deleted(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([])
    assert hub.http.post("/api/v1/cameras", json={"id": "cam", "stream_url": cameras.url("cam")}).status_code == 201
    with httpx.stream("GET", f"{hub.base}/api/v1/cameras/cam/mjpeg", timeout=20) as r:
        chunks = r.iter_bytes()
        assert next(chunks).startswith(b"--")
        assert hub.http.delete("/api/v1/cameras/cam").status_code == 204
        for _ in chunks:  # drains what was in flight, then the stream must end
            pass
    wait_for(lambda: cameras.sessions() == 0, what="upstream closed")
