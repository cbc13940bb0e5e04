"""Detection end to end: simulated RTSP cameras -> hub -> engine -> API, with real detectors."""

from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import wait_for


def test_motion_detections_overlay_status_and_models(cameras, live_hub, tmp_path):
    cameras.add("cam")
    cameras.add("other")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx model")
    hub = live_hub(
        [
            {"id": "cam", "stream_url": cameras.url("cam"), "detect": {"models": ["motion"], "fps": 10}},
            {"id": "other", "stream_url": cameras.url("other"), "detect": {"models": ["broken"], "fps": 5}},
        ],
        models={"motion": {"kind": "motion"}, "broken": {"kind": "onnx", "path": str(broken)}},
    )
    http = hub.http

    def detections() -> dict:
        return http.get("/api/v1/cameras/cam/detections").json()

    # The simulated scene has moving shapes, so motion regions appear.
    wait_for(lambda: any(m["detections"] for m in detections()["models"]), timeout=20, what="motion detections")
    body = detections()
    assert body["analytics"] is True
    result = body["models"][0]
    assert result["model"] == "motion" and result["seq"] > 0 and result["latency_ms"] >= 0
    for det in result["detections"]:
        x1, y1, x2, y2 = det["box"]
        assert det["label"] == "motion" and 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240

    plain = http.get("/api/v1/cameras/cam/snapshot.jpg")
    seq_before = detections()["models"][0]["seq"]
    drawn = http.get("/api/v1/cameras/cam/snapshot.jpg?overlay=1")
    seq_after = detections()["models"][0]["seq"]
    # The overlay is drawn on the frame the model analysed, so its boxes sit on the objects.
    assert seq_before <= int(drawn.headers["X-Frame-Seq"]) <= seq_after
    assert plain.status_code == drawn.status_code == 200
    a = cv2.imdecode(np.frombuffer(plain.content, np.uint8), cv2.IMREAD_COLOR)
    b = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_COLOR)
    assert a.shape == b.shape == (240, 320, 3)

    status = http.get("/api/v1/cameras/cam/status").json()
    analytics = status["analytics"]
    assert analytics["target_fps"] == 10 and analytics["sampled"] > 0
    assert analytics["models"][0]["processed"] > 0 and analytics["models"][0]["fps"] > 0

    models = {m["name"]: m for m in http.get("/api/v1/models").json()}
    assert models["motion"]["status"] == "ready" and models["motion"]["provider"] == "opencv"
    assert models["motion"]["stats"]["runs"] > 0
    assert models["broken"]["status"] == "error" and "broken.onnx" in models["broken"]["error"]

    # The camera whose model failed to load keeps streaming; the hub keeps running.
    assert http.get("/api/v1/cameras/other/status").json()["state"] == "online"
    assert http.get("/api/v1/cameras/other/detections").json()["models"] == []
    metrics = http.get("/metrics").text
    assert 'videohub_model_loaded{model="broken"} 0.0' in metrics
    assert 'videohub_analytics_fps{camera="cam",model="motion"}' in metrics


def test_unknown_model_is_refused_and_detection_can_be_switched_off(cameras, live_hub):
    cameras.add("cam")
    hub = live_hub([], models={"motion": {"kind": "motion"}})
    http = hub.http
    r = http.post("/api/v1/cameras", json={"id": "c", "stream_url": cameras.url("cam"), "detect": {"models": ["nope"]}})
    assert r.status_code == 422 and "nope" in r.json()["detail"] and "motion" in r.json()["detail"]
    r = http.post(
        "/api/v1/cameras",
        json={"id": "c", "stream_url": cameras.url("cam"), "detect": {"models": ["motion"], "fps": 5}},
    )
    assert r.status_code == 201
    wait_for(lambda: http.get("/api/v1/cameras/c/status").json()["analytics"]["sampled"] > 0, what="sampling")
    assert http.patch("/api/v1/cameras/c", json={"detect": None}).status_code == 200
    assert http.get("/api/v1/cameras/c/status").json()["analytics"] is None
    assert http.get("/api/v1/cameras/c/detections").json()["analytics"] is False


def test_live_cameras_share_one_onnx_engine_in_batches(cameras, live_hub, tmp_path):
    from tests.detect.models import colour_model

    model = colour_model(tmp_path / "colour.onnx")  # classes red/green/blue scored by the frame's colour
    names = ["c1", "c2", "c3", "c4"]
    for name in names:
        cameras.add(name)
    hub = live_hub(
        [
            {"id": n, "stream_url": cameras.url(n), "detect": {"models": ["colour"], "fps": 10, "conf": 0.01}}
            for n in names
        ],
        models={"colour": {"path": str(model), "max_batch": 4, "max_wait": 0.05}},
    )
    engine = hub.runtime.models.engines["colour"]
    wait_for(lambda: engine.runs >= 20, timeout=20, what="20 model runs")
    assert max(engine.batch_sizes) > 1, f"frames of several cameras should share runs: {engine.batch_sizes}"
    for name in names:
        body = hub.http.get(f"/api/v1/cameras/{name}/detections").json()
        (result,) = body["models"]
        assert result["model"] == "colour" and result["detections"]
        assert result["detections"][0]["label"] in {"red", "green", "blue"}
    models = {m["name"]: m for m in hub.http.get("/api/v1/models").json()}
    assert models["colour"]["layout"] == "yolov8" and models["colour"]["classes"] == ["red", "green", "blue"]
    assert models["colour"]["provider"] == "CPUExecutionProvider"


def test_motion_gate_skips_the_model_on_a_still_camera_only(cameras, live_hub, tmp_path):
    from tests.simulate.conftest import make_clip
    from videohub.simulate.file import FileFeed

    still = make_clip(tmp_path / "still.mp4", "libx264", frames=1)  # one picture, looped: nothing moves
    cameras.feeds["still"] = FileFeed(still, name="still")
    cameras.add("moving")
    detect = {"models": ["motion"], "fps": 10, "motion_gate": True}
    hub = live_hub(
        [
            {"id": "still", "stream_url": cameras.url("still"), "detect": detect},
            {"id": "moving", "stream_url": cameras.url("moving"), "detect": detect},
        ],
        models={"motion": {"kind": "motion"}},
    )

    def analytics(camera: str) -> dict:
        return hub.http.get(f"/api/v1/cameras/{camera}/status").json()["analytics"]

    wait_for(lambda: analytics("still")["sampled"] >= 15 and analytics("moving")["sampled"] >= 15, what="samples")
    still_stats, moving_stats = analytics("still"), analytics("moving")
    # The still camera's frames stop at the gate (its first frame passes: nothing to compare with).
    assert still_stats["motion_gated"] >= still_stats["sampled"] - 2
    assert moving_stats["motion_gated"] <= moving_stats["sampled"] // 5
    assert moving_stats["models"][0]["processed"] > 5
