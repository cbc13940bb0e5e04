"""/api/v1/cameras over real HTTP, with cameras on a real RTSP server."""

from __future__ import annotations

import logging

from tests.conftest import wait_for

SECRET = "Zq9-topsecret"


def test_crud_starts_restarts_and_stops_readers(cameras, live_hub):
    cameras.add("a")
    cameras.add("b")
    hub = live_hub([])
    http = hub.http
    body = {
        "id": "gate",
        "name": "Gate",
        "stream_url": cameras.url("a"),
        "region_code": "150102",
        "device_code": "15010200001320000001",
        "tags": ["x"],
        "stream": {"read_timeout": 3},
    }
    r = http.post("/api/v1/cameras", json=body)
    assert r.status_code == 201, r.text
    cam = r.json()
    assert cam["origin"] == "api" and cam["device"]["type"] == "132"
    assert cam["stream"]["read_timeout"] == 3 and cam["stream"]["connect_timeout"] == 3  # override + default
    assert cam["links"]["rtsp"].endswith("/gate")
    wait_for(lambda: http.get("/api/v1/cameras/gate/status").json()["state"] == "online", what="online")
    assert cameras.sessions("a") == 1

    r = http.patch("/api/v1/cameras/gate", json={"stream_url": cameras.url("b"), "name": "Gate 2"})
    assert r.status_code == 200 and r.json()["name"] == "Gate 2"
    wait_for(lambda: cameras.sessions("b") == 1 and cameras.sessions("a") == 0, what="reader moved to b")
    assert http.get("/api/v1/cameras").json()[0]["id"] == "gate"

    assert http.delete("/api/v1/cameras/gate").status_code == 204
    wait_for(lambda: cameras.sessions() == 0, what="reader stopped")
    assert http.get("/api/v1/cameras/gate").status_code == 404
    assert http.get("/api/v1/cameras/gate/status").status_code == 404


def test_bad_input_gets_clear_errors(cameras, live_hub):
    cameras.add("a")
    hub = live_hub([{"id": "fixed", "stream_url": cameras.url("a")}])
    http = hub.http
    r = http.post("/api/v1/cameras", json={"id": "x", "stream_url": f"rtsp://u:{SECRET}@host:99999/x"})
    assert r.status_code == 422 and "stream_url" in r.json()["detail"]
    assert SECRET not in r.text
    r = http.post("/api/v1/cameras", json={"id": "x", "stream_url": "rtsp://h/x", "colour": "red"})
    assert r.status_code == 422 and "colour: unknown field" in r.json()["detail"]
    r = http.post("/api/v1/cameras", json={"id": "Bad Id!", "stream_url": "rtsp://h/x"})
    assert r.status_code == 422 and "id" in r.json()["detail"]
    r = http.post("/api/v1/cameras", json={"id": "x", "stream_url": "rtsp://h/x", "region_code": "12"})
    assert r.status_code == 422 and "region_code" in r.json()["detail"]
    assert http.post("/api/v1/cameras", json={"id": "fixed", "stream_url": "rtsp://h/x"}).status_code == 409
    r = http.patch("/api/v1/cameras/fixed", json={"name": "n"})
    assert r.status_code == 409 and "test.yaml" in r.json()["detail"]
    assert http.delete("/api/v1/cameras/fixed").status_code == 409
    assert http.get("/api/v1/cameras/nope").status_code == 404
    assert http.patch("/api/v1/cameras/nope", json={"name": "n"}).status_code == 404
    http.post("/api/v1/cameras", json={"id": "y", "stream_url": "rtsp://h/x"})
    r = http.patch("/api/v1/cameras/y", json={"stream": {"read_timeout": -1}})
    assert r.status_code == 422 and "read_timeout" in r.json()["detail"]
    # everything else still runs
    wait_for(lambda: http.get("/api/v1/cameras/fixed/status").json()["state"] == "online", what="online")


def test_credentials_never_in_responses_or_logs(cameras, live_hub, caplog):
    cameras.add("a")
    caplog.set_level(logging.DEBUG)
    hub = live_hub([{"id": "cfg", "stream_url": cameras.url("a", f"admin:{SECRET}")}])
    http = hub.http
    r = http.post("/api/v1/cameras", json={"id": "down", "stream_url": f"rtsp://root:{SECRET}@127.0.0.1:1/x"})
    assert r.status_code == 201
    assert r.json()["stream_url"] == "rtsp://***@127.0.0.1:1/x"
    wait_for(lambda: http.get("/api/v1/cameras/down/status").json()["last_error"], what="an error")
    wait_for(lambda: http.get("/api/v1/cameras/cfg/status").json()["state"] == "online", what="online")
    texts = [
        http.get(path).text
        for path in (
            "/api/v1/cameras",
            "/api/v1/cameras/cfg",
            "/api/v1/cameras/down",
            "/api/v1/cameras/down/status",
            "/api/v1/cameras/cfg/status",
            "/api/v1/health",
            "/metrics",
            "/openapi.json",
        )
    ]
    texts.append(http.get("/api/v1/cameras/down/snapshot.jpg").text)  # 503 with the masked error
    for text in texts:
        assert SECRET not in text
    assert "rtsp://***@127.0.0.1:1/x" in texts[0]
    assert "offline" in texts[3]
    assert caplog.records, "the hub should have logged the failing camera"
    for record in caplog.records:
        assert SECRET not in record.getMessage()


def test_health_and_metrics(cameras, live_hub):
    cameras.add("a")
    hub = live_hub([{"id": "a", "stream_url": cameras.url("a")}])
    wait_for(lambda: hub.http.get("/api/v1/health").json()["cameras"]["online"] == 1, what="online")
    health = hub.http.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["upstream_connections"] == 1 and health["database"] == "ok"
    metrics = hub.http.get("/metrics").text
    for name in (
        'videohub_camera_fps{camera="a"}',
        "videohub_camera_frames_dropped_total",
        "videohub_camera_reconnects_total",
        "videohub_camera_viewers",
        "videohub_upstream_connections 1.0",
    ):
        assert name in metrics


def test_metadata_change_keeps_the_connection_and_null_restores_a_default(cameras, live_hub):
    cameras.add("a")
    hub = live_hub([])
    http = hub.http
    http.post("/api/v1/cameras", json={"id": "c", "stream_url": cameras.url("a"), "stream": {"read_timeout": 4}})
    wait_for(lambda: http.get("/api/v1/cameras/c/status").json()["state"] == "online", what="online")
    since = http.get("/api/v1/cameras/c/status").json()["connected_since"]
    assert http.patch("/api/v1/cameras/c", json={"name": "Renamed", "tags": ["t"]}).status_code == 200
    assert http.get("/api/v1/cameras/c/status").json()["connected_since"] == since  # not reconnected
    r = http.patch("/api/v1/cameras/c", json={"stream": {"read_timeout": None}})
    assert r.status_code == 200 and r.json()["stream"]["read_timeout"] == 2  # the test default again


def test_a_password_with_special_characters_is_never_echoed(live_hub):
    hub = live_hub([])
    for password in ("Zq9#topsecret", "Zq9/topsecret", "p@ss-Zq9secret"):
        r = hub.http.post("/api/v1/cameras", json={"id": "x", "stream_url": f"rtsp://admin:{password}@10.1.1.1/x"})
        assert "Zq9" not in r.text and "topsecret" not in r.text and "secret" not in r.text.replace("secrets", "")
        if r.status_code == 201:
            assert r.json()["stream_url"] == "rtsp://***@10.1.1.1/x"
            hub.http.delete("/api/v1/cameras/x")
        else:
            assert r.status_code == 422 and "percent-encoded" in r.json()["detail"]
    masked = hub.http.post("/api/v1/cameras", json={"id": "y", "stream_url": "rtsp://***@10.1.1.1/x"})
    assert masked.status_code == 422 and "masked credentials" in masked.json()["detail"]


def test_concurrent_patch_and_delete_leave_no_ghost_camera(cameras, live_hub):
    import threading

    cameras.add("a")
    cameras.add("b")
    hub = live_hub([])
    http = hub.http
    for attempt in range(3):
        http.post("/api/v1/cameras", json={"id": "g", "stream_url": cameras.url("a")})
        wait_for(lambda: cameras.sessions("a") == 1, what="reader on a")
        patch = threading.Thread(target=lambda: http.patch("/api/v1/cameras/g", json={"stream_url": cameras.url("b")}))
        patch.start()
        http.delete("/api/v1/cameras/g")
        patch.join()
        # Whichever ran first, the camera is gone and so is its reader.
        assert http.get("/api/v1/cameras/g").status_code == 404
        wait_for(lambda: cameras.sessions() == 0, timeout=5, what=f"no ghost reader (attempt {attempt})")
        assert "g" not in [c.camera_id for c in hub.runtime.hub.channels()]


def test_locked_database_is_503_and_changes_nothing(live_hub, tmp_path):
    import sqlite3

    hub = live_hub([])
    locker = sqlite3.connect(tmp_path / "hub.db", timeout=1)
    locker.execute("BEGIN EXCLUSIVE")  # another writer (a second replica, a migration) holds the file
    try:
        r = hub.http.post("/api/v1/cameras", json={"id": "x", "stream_url": f"rtsp://u:{SECRET}@h/x"})
        assert r.status_code == 503 and "database unavailable" in r.json()["detail"]
        assert SECRET not in r.text
    finally:
        locker.rollback()
        locker.close()
    assert hub.http.get("/api/v1/cameras/x").status_code == 404
    assert hub.http.post("/api/v1/cameras", json={"id": "x", "stream_url": "rtsp://h/x"}).status_code == 201
