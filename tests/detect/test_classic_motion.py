"""Background-subtraction motion detector and the cheap motion gate, on synthetic video."""

from __future__ import annotations

import threading

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from videohub.detect.classic import DEFAULT_KEY, MotionDetector  # noqa: E402
from videohub.detect.classic.motion import MotionGate, motion_score, reset_motion_score  # noqa: E402

H, W = 360, 640


def scene(seed: int = 0) -> np.ndarray:
    """A static street-ish scene: grey ground and coloured blocks."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 110, np.uint8)
    for _ in range(30):
        x, y = (int(v) for v in rng.integers(0, (W, H)))
        w, h = (int(v) for v in rng.integers(5, 80, 2))
        cv2.rectangle(img, (x, y), (x + w, y + h), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return img


class Camera:
    """Frames of one scene with fresh sensor noise each time."""

    def __init__(self, seed: int) -> None:
        self.background = scene(seed)
        self.rng = np.random.default_rng(seed + 100)

    def frame(self, square: tuple[int, int, int] | None = None) -> np.ndarray:
        noise = self.rng.normal(0, 3, self.background.shape)
        img = np.clip(self.background + noise, 0, 255).astype(np.uint8)
        if square is not None:
            x, y, size = square
            cv2.rectangle(img, (x, y), (x + size - 1, y + size - 1), (20, 200, 240), -1)
        return img


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def warm_up(det: MotionDetector, cam: Camera, key: str | None = None, frames: int = 30) -> None:
    for _ in range(frames):
        out = det.detect([cam.frame()], keys=None if key is None else [key])
    assert out == [[]], "a static scene must give nothing after warm-up"


def test_contract_attributes() -> None:
    det = MotionDetector()
    assert (det.name, det.labels, det.provider, det.input_size) == ("motion", ["motion"], "opencv", None)


def test_static_scene_gives_nothing_and_moving_square_is_boxed() -> None:
    det = MotionDetector()
    cam = Camera(0)
    first = det.detect([cam.frame()])
    assert first == [[]]  # warm-up: nothing to compare yet
    warm_up(det, cam)
    for step in range(5):
        x = 100 + 40 * step
        truth = (x, 150, x + 60, 210)
        dets = det.detect([cam.frame((x, 150, 60))])[0]
        assert len(dets) == 1, dets
        d = dets[0]
        assert d.label == "motion" and d.class_id == 0 and 0.5 < d.score <= 1.0
        assert iou(d.box, truth) > 0.7, (d.box, truth)


def test_boxes_are_in_source_pixels_of_large_frames() -> None:
    det = MotionDetector()  # works at 320 px wide: a 1280 px frame is shrunk 4x
    rng = np.random.default_rng(3)
    still = cv2.resize(scene(3), (1280, 720), interpolation=cv2.INTER_NEAREST)
    for _ in range(20):
        det.detect([np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8)])
    moving = still.copy()
    cv2.rectangle(moving, (800, 400), (959, 559), (20, 200, 240), -1)
    dets = det.detect([moving])[0]
    assert len(dets) == 1
    assert iou(dets[0].box, (800, 400, 960, 560)) > 0.8
    x1, y1, x2, y2 = dets[0].box
    assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720


def test_min_area_drops_small_regions() -> None:
    det = MotionDetector(min_area=0.05)  # 5 % of the frame; a 60x60 square is 1.6 %
    cam = Camera(1)
    warm_up(det, cam)
    assert det.detect([cam.frame((200, 150, 60))]) == [[]]


def test_keys_keep_separate_state() -> None:
    det = MotionDetector()
    a, b = Camera(10), Camera(11)
    for _ in range(30):
        assert det.detect([a.frame(), b.frame()], keys=["cam-a", "cam-b"]) == [[], []]
    # Camera b's frame is a different scene; if it hit a's model it would be all "motion".
    out = det.detect([a.frame((300, 100, 60)), b.frame()], keys=["cam-a", "cam-b"])
    assert len(out[0]) == 1 and out[1] == []
    # A new key starts its own model: its first frames report nothing.
    assert det.detect([a.frame((300, 100, 60))], keys=["cam-c"]) == [[]]
    # Forgetting a key drops its model; it warms up again from scratch.
    det.reset("cam-a")
    assert det.detect([a.frame((300, 100, 60))], keys=["cam-a"]) == [[]]


def test_batch_of_one_stream_runs_in_order() -> None:
    det = MotionDetector()
    cam = Camera(4)
    frames = [cam.frame() for _ in range(30)] + [cam.frame((400, 200, 60)), cam.frame()]
    out = det.detect(frames)  # no keys: one stream, the default key
    assert len(out) == len(frames)
    assert all(d == [] for d in out[:30])
    assert len(out[30]) == 1


def test_mismatched_keys_and_bad_images_are_errors() -> None:
    det = MotionDetector()
    cam = Camera(5)
    with pytest.raises(ValueError, match="keys"):
        det.detect([cam.frame(), cam.frame()], keys=["only-one"])
    with pytest.raises(ValueError, match="image 0"):
        det.detect([np.zeros((H, W), np.uint8)])
    with pytest.raises(ValueError, match="image"):
        det.motion_score(np.zeros((H, W, 3), np.float32))
    assert det.detect([]) == []


def test_resolution_change_starts_a_new_model() -> None:
    det = MotionDetector()
    cam = Camera(6)
    warm_up(det, cam)
    small = cv2.resize(cam.frame(), (320, 180))
    assert det.detect([small]) == [[]]  # not an error, not a frame full of "motion"


def test_motion_score_still_and_moving() -> None:
    det = MotionDetector()
    cam = Camera(7)
    assert det.motion_score(cam.frame(), "k") == 1.0  # first frame: unknown counts as moved
    still = [det.motion_score(cam.frame(), "k") for _ in range(5)]
    assert max(still) < 0.001
    moving = [det.motion_score(cam.frame((100 + 30 * i, 100, 60)), "k") for i in range(5)]
    # A 60x60 square moving 30 px changes about 2 * 30 * 60 px of 640 * 360.
    assert min(moving) > 0.01


def test_motion_score_keys_are_separate_and_independent_of_detect() -> None:
    gate = MotionGate()
    a, b = Camera(8), Camera(9)
    gate.score(a.frame(), "a")
    gate.score(b.frame(), "b")
    # Alternating two different scenes: each key compares with its own previous frame.
    for _ in range(3):
        assert gate.score(a.frame(), "a") < 0.001
        assert gate.score(b.frame(), "b") < 0.001
    det = MotionDetector()
    det.motion_score(a.frame())
    det.detect([b.frame()])  # feeds the background model only, not the gate
    assert det.motion_score(a.frame()) < 0.001


def test_module_level_gate() -> None:
    cam = Camera(12)
    key = "test-module-gate"
    motion_score(cam.frame(), key)
    assert motion_score(cam.frame(), key) < 0.001
    assert motion_score(cam.frame((0, 0, 120)), key) > 0.01
    reset_motion_score(key)
    assert motion_score(cam.frame(), key) == 1.0
    reset_motion_score(key)
    assert DEFAULT_KEY == "default"


def test_threads_on_different_keys() -> None:
    """Cameras served from several engine threads: each key's frames stay in order."""
    det = MotionDetector()
    results: dict[str, list[int]] = {}

    def run(key: str, seed: int) -> None:
        cam = Camera(seed)
        counts = []
        for i in range(25):
            square = (50 + 40 * (i - 20), 100, 60) if i >= 20 else None
            counts.append(len(det.detect([cam.frame(square)], keys=[key])[0]))
        results[key] = counts

    threads = [threading.Thread(target=run, args=(f"cam{i}", 20 + i)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for counts in results.values():
        assert counts[:20] == [0] * 20 and counts[20:] == [1] * 5
