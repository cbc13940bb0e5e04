"""The engine's scheduling: batching across cameras, newest-frame-wins drops, per-camera
thresholds, and surviving a failing model. A small detector that records what it was
given stands in for the model here; real models run through it in tests/api."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from tests.conftest import wait_for
from videohub.detect.base import Detection
from videohub.detect.engine import DetectionEngine
from videohub.streams.frame import Frame


class RecordingDetector:
    name, labels, input_size, provider = "recording", ["thing"], None, "test"

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail
        self.batches: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def detect(self, images: Sequence[np.ndarray], conf: float | None = None) -> list[list[Detection]]:
        self.release.wait(5)
        self.batches.append(len(images))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        # One detection per image; its score is the image's brightness, so thresholds can be checked.
        return [[Detection("thing", 0, float(img[0, 0, 0]) / 255, (1, 2, 3, 4))] for img in images]


def frame(camera: str, seq: int, value: int = 200) -> Frame:
    return Frame(camera, time.time(), seq, image=np.full((8, 8, 3), value, np.uint8))


def test_frames_of_several_cameras_run_in_one_batch():
    detector = RecordingDetector()
    detector.release.clear()
    engine = DetectionEngine("m", detector, max_batch=4, max_wait=0.2)
    results: dict[str, list] = {}
    try:
        for cam in ("a", "b", "c", "d"):
            engine.submit(cam, frame(cam, 1), lambda f, d, cam=cam: results.setdefault(cam, d))
        detector.release.set()
        wait_for(lambda: len(results) == 4, what="four results")
        assert detector.batches == [4]
        assert engine.batch_sizes == {4: 1}
        assert all(d[0].label == "thing" for d in results.values())
    finally:
        engine.stop()


def test_a_waiting_frame_is_replaced_and_counted_as_dropped():
    detector = RecordingDetector()
    detector.release.clear()  # the model is busy
    engine = DetectionEngine("m", detector, max_batch=1, max_wait=0)
    seen: list[int] = []
    try:
        engine.submit("a", frame("a", 1), lambda f, d: seen.append(f.seq))
        wait_for(lambda: engine.queue_wait.percentile(50) is not None, what="first frame taken")
        for seq in (2, 3, 4):  # arrive while the model is still busy with frame 1
            engine.submit("a", frame("a", seq), lambda f, d: seen.append(f.seq))
        detector.release.set()
        wait_for(lambda: len(seen) == 2, what="two results")
        assert seen == [1, 4]  # the newest frame won; 2 and 3 were dropped
        assert engine.cameras["a"].dropped == 2 and engine.cameras["a"].submitted == 4
    finally:
        engine.stop()


def test_each_camera_keeps_its_own_threshold():
    engine = DetectionEngine("m", RecordingDetector(), max_batch=2, max_wait=0.2)
    results: dict[str, list] = {}
    try:
        engine.submit("strict", frame("strict", 1, 100), lambda f, d: results.setdefault("strict", d), conf=0.5)
        engine.submit("loose", frame("loose", 1, 100), lambda f, d: results.setdefault("loose", d), conf=0.2)
        wait_for(lambda: len(results) == 2, what="results")
        assert results["strict"] == [] and len(results["loose"]) == 1  # score 100/255 = 0.39
    finally:
        engine.stop()


def test_a_failing_model_is_counted_and_the_engine_goes_on():
    detector = RecordingDetector(fail=True)
    engine = DetectionEngine("m", detector, max_batch=1, max_wait=0)
    try:
        engine.submit("a", frame("a", 1), lambda f, d: None)
        wait_for(lambda: engine.cameras["a"].errors == 1, what="error counted")
        assert "model exploded" in (engine.last_error or "")
        detector.fail = False
        done = threading.Event()
        engine.submit("a", frame("a", 2), lambda f, d: done.set())
        assert done.wait(5)
    finally:
        engine.stop()


def test_a_replaced_frame_keeps_its_camera_place_in_the_queue():
    detector = RecordingDetector()
    detector.release.clear()  # busy with camera "x"
    engine = DetectionEngine("m", detector, max_batch=1, max_wait=0)
    order: list[str] = []
    try:
        engine.submit("x", frame("x", 1), lambda f, d: order.append("x"))
        wait_for(lambda: engine.queue_wait.percentile(50) is not None, what="x taken")
        engine.submit("a", frame("a", 1), lambda f, d: order.append("a"))
        engine.submit("b", frame("b", 1), lambda f, d: order.append("b"))
        engine.submit("a", frame("a", 2), lambda f, d: order.append("a"))  # a newer frame of a busy camera
        detector.release.set()
        wait_for(lambda: len(order) == 3, what="three results")
        assert order == ["x", "a", "b"]  # a was not sent behind b for having a newer frame
    finally:
        engine.stop()
