"""The ingest path against a real RTSP server: frames, health, reconnects, on-demand."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from tests.conftest import FAST, CameraServer, free_port, wait_for
from videohub.config import CameraSpec, StreamOptions
from videohub.streams.hub import StreamHub


@pytest.fixture
def hub():
    hub = StreamHub(StreamOptions(**FAST))
    yield hub
    hub.stop()


def test_frames_arrive_and_health_is_online(cameras, hub):
    cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam")))
    channel = hub.channel("cam")
    wait_for(lambda: channel.health.frames_decoded >= 20, what="20 decoded frames")
    health = channel.snapshot_health()
    assert health.state == "online" and health.upstream_connected
    assert (health.codec, health.width, health.height) == ("h264", 320, 240)
    assert 15 < health.fps < 35
    frame = channel.slot.latest()
    assert frame is not None and frame.image.shape == (240, 320, 3) and frame.image.dtype.name == "uint8"
    assert cameras.sessions("cam") == 1


def test_server_restart_reconnects_by_itself(cameras, hub):
    cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam")))
    channel = hub.channel("cam")
    wait_for(lambda: channel.health.state == "online", what="online")
    cameras.server.stop()
    wait_for(lambda: channel.health.state == "offline", what="offline after server stop")
    assert channel.health.last_error
    before = channel.health.frames_decoded
    cameras.restart()
    wait_for(lambda: channel.health.state == "online" and channel.health.frames_decoded > before + 10, what="back")
    assert channel.health.reconnects >= 1


def test_stall_without_close_is_detected(cameras, hub):
    feed = cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam")))
    channel = hub.channel("cam")
    wait_for(lambda: channel.health.state == "online", what="online")
    feed.pause()  # the TCP connection stays open, nothing more arrives
    wait_for(lambda: channel.health.state == "offline", timeout=FAST["read_timeout"] + 8, what="stall detected")
    assert "no data" in (channel.health.last_error or "") or channel.health.last_error
    feed.resume()
    before = channel.health.frames_decoded
    wait_for(lambda: channel.health.frames_decoded > before + 10, what="frames after resume")
    assert channel.health.reconnects >= 1


def test_camera_down_at_start_up_comes_online_later(hub):
    port = free_port()
    hub.apply(CameraSpec(id="cam", stream_url=f"rtsp://127.0.0.1:{port}/cam"))
    channel = hub.channel("cam")
    wait_for(lambda: channel.health.state == "offline" and channel.health.reconnects >= 2, what="offline")
    server = CameraServer(port)
    try:
        server.add("cam")
        wait_for(lambda: channel.health.state == "online" and channel.health.frames_decoded > 5, what="online")
    finally:
        server.close()


def test_on_demand_camera_opens_for_a_consumer_and_closes_when_idle(cameras, hub):
    cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam"), on_demand=True, stream={"idle_release": 1}))
    channel = hub.channel("cam")
    assert channel.health.state == "idle" and cameras.sessions() == 0
    with hub.acquire("cam", "frames"):
        wait_for(lambda: channel.slot.wait_newer(0, 0.1), what="a frame")
        assert cameras.sessions("cam") == 1
        two = hub.acquire("cam", "frames")  # a second consumer shares the connection
        assert cameras.sessions("cam") == 1
        two.release()
    wait_for(lambda: cameras.sessions() == 0, timeout=5, what="release after idle time")
    assert channel.health.state == "idle" and not channel.upstream_connected


def test_corrupt_stream_goes_offline_and_others_keep_running(cameras, hub):
    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen()
    stop = threading.Event()

    def serve_garbage() -> None:
        garbage.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = garbage.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n" + bytes(range(256)) * 40)

    thread = threading.Thread(target=serve_garbage, daemon=True)
    thread.start()
    try:
        cameras.add("good")
        hub.apply(CameraSpec(id="good", stream_url=cameras.url("good")))
        hub.apply(CameraSpec(id="bad", stream_url=f"rtsp://u:pw9999@127.0.0.1:{garbage.getsockname()[1]}/x"))
        bad, good = hub.channel("bad"), hub.channel("good")
        wait_for(lambda: bad.health.state == "offline" and bad.health.reconnects >= 2, what="bad offline")
        assert "pw9999" not in (bad.health.last_error or "")
        before = good.health.frames_decoded
        wait_for(lambda: good.health.frames_decoded > before + 10, what="good camera unaffected")
        assert good.health.state == "online"
    finally:
        stop.set()
        thread.join(2)
        garbage.close()


def test_config_change_restarts_reader_and_removal_stops_it(cameras, hub):
    cameras.add("a")
    cameras.add("b")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("a")))
    wait_for(lambda: cameras.sessions("a") == 1, what="reader on a")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("b")))
    wait_for(lambda: cameras.sessions("b") == 1 and cameras.sessions("a") == 0, what="moved to b")
    hub.remove("cam")
    wait_for(lambda: cameras.sessions() == 0, what="removed")


def test_disabled_camera_is_not_pulled(cameras, hub):
    cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam"), enabled=False))
    assert hub.channel("cam").health.state == "disabled"
    assert hub.feed("cam") is None
    hub.acquire("cam", "frames").release()
    assert cameras.sessions() == 0


def test_stop_closes_every_upstream_connection(cameras):
    hub = StreamHub(StreamOptions(**FAST))
    for name in ("a", "b", "c"):
        cameras.add(name)
        hub.apply(CameraSpec(id=name, stream_url=cameras.url(name)))
    wait_for(lambda: cameras.sessions() == 3, what="three readers")
    hub.stop()
    wait_for(lambda: cameras.sessions() == 0, timeout=5, what="all closed")


def test_udp_transport_is_selectable(cameras, hub, caplog):
    caplog.set_level(logging.INFO, logger="videohub.rtsp")
    cameras.add("cam")
    hub.apply(CameraSpec(id="cam", stream_url=cameras.url("cam"), stream={"rtsp_transport": "udp"}))
    channel = hub.channel("cam")
    wait_for(lambda: channel.health.frames_decoded >= 10, what="frames over UDP")
    assert channel.health.state == "online"
    assert any("for cam from" in r.getMessage() and r.getMessage().endswith("(UDP)") for r in caplog.records)
