"""From a live camera to a standard event: a simulated street camera (a burning window) on
the project's RTSP server, pulled by a real hub, analysed by the built-in fire detector, its
detections through a presence rule, and one stored event with evidence and a snapshot."""

from __future__ import annotations

import time

import cv2
import numpy as np

from tests.conftest import wait_for
from videohub.detect.draw import _PALETTE
from videohub.simulate.scene import SceneFeed

FIRE_RULE = {
    "id": "window-fire",
    "kind": "presence",
    "labels": ["fire"],
    "persistence": {"frames": 2, "of_frames": 3},
    "category_code": "0401",
    "level": 2,
    "title": "{label} at {camera}",
    "update_interval": 1,
}


def test_a_burning_window_raises_one_event_with_evidence(cameras, live_hub):
    cameras.feeds["street"] = SceneFeed(640, 360, fps=10, name="street")
    hub = live_hub(
        [
            {
                "id": "street",
                "name": "Xincheng street",
                "stream_url": cameras.url("street"),
                "region_code": "150102",
                "device_code": "15010200001320000001",
                "detect": {"models": ["fire"], "fps": 5},
                "rules": [FIRE_RULE],
            }
        ],
        models={"fire": {"kind": "fire"}},
    )
    http = hub.http

    def events() -> list[dict]:
        return http.get("/api/v1/events", params={"camera": "street"}).json()["items"]

    wait_for(lambda: events(), timeout=30, what="an event from the fire rule")
    (event,) = events()
    assert event["title"] == "fire at Xincheng street"
    assert event["category_code"] == "0401" and event["major_code"] == "04" and event["level"] == 2
    assert (
        event["category_names"]["minor_en"] == "Fire or open flame"
        and event["category_names"]["minor_zh"] == "火情/明火"
    )
    assert event["source"] == "ai_video" and event["status"] == 10
    assert event["region_code"] == "150102" and event["device_code"] == "15010200001320000001"
    evidence = event["evidence"]
    assert evidence["model"] == "fire" and evidence["rule_id"] == "window-fire" and evidence["count"] >= 1
    det = evidence["detections"][0]
    assert det["label"] == "fire" and det["score"] > 0
    x1, y1, x2, y2 = det["box"]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360
    # The fire burns in the top right corner of the scene (see SceneRenderer).
    assert x1 > 640 * 0.6 and y2 < 360 * 0.5

    # The snapshot is the analysed frame with the rule's boxes drawn on it.
    r = http.get(f"/api/v1/events/{event['id']}/snapshot.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (360, 640, 3)
    edge = picture[int(y1) + 1 : int(y2) - 1, int(x1)].astype(int)  # the box's left side
    colour = np.array(_PALETTE[0])
    assert (np.abs(edge - colour).max(axis=1) < 60).mean() > 0.5

    # While the fire burns, the one incident is updated, never raised again.
    first_seen = evidence["last_seen_at"]
    wait_for(lambda: events()[0]["evidence"]["last_seen_at"] != first_seen, timeout=15, what="an update")
    time.sleep(1.0)
    assert len(events()) == 1
    assert hub.runtime.incidents.failed == 0 and hub.runtime.incidents.dropped == 0
