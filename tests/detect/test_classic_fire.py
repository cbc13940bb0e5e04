"""Fire detector (Chen et al. 2004 colour rule + flicker) on synthetic video."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from videohub.detect.classic import FireDetector, fire_colour_mask  # noqa: E402

H, W = 360, 640


class Scene:
    """A grey street: sky-ish wall, darker road, sensor noise."""

    def __init__(self, seed: int = 0, base: tuple[int, int, int] = (120, 120, 120)) -> None:
        self.rng = np.random.default_rng(seed)
        self.img = np.full((H, W, 3), base, np.uint8)
        cv2.rectangle(self.img, (0, 250), (W, H), tuple(int(c * 0.75) for c in base), -1)

    def frame(self) -> np.ndarray:
        return np.clip(self.img + self.rng.normal(0, 2, self.img.shape), 0, 255).astype(np.uint8)

    def flame(self, img: np.ndarray, cx: int, base: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Five flame tongues whose heights, sway and orange-to-yellow colour change every frame."""
        for k in range(5):
            x = cx + int((k - 2) * width / 5 + self.rng.integers(-4, 5))
            h = int(height * self.rng.uniform(0.5, 1.0))
            colour = (int(self.rng.integers(0, 60)), int(self.rng.integers(90, 230)), 255)  # BGR
            cv2.ellipse(img, (x, base - h // 2), (width // 5, h // 2), 0, 0, 360, colour, -1)
        return (cx - width // 2 - width // 5, base - height, cx + width // 2 + width // 5, base)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_contract_attributes() -> None:
    det = FireDetector()
    assert det.labels == ["fire"] and det.provider == "opencv" and det.input_size is None


def test_colour_rule() -> None:
    # BGR pixels: flame orange, flame yellow, dim brown, grey, blue, pure red (G == B fails R >= G > B)
    px = np.array([[[0, 140, 255], [60, 220, 255], [70, 100, 140], [128, 128, 128], [255, 100, 0], [0, 0, 200]]])
    assert fire_colour_mask(px.astype(np.uint8)).tolist() == [[True, True, False, False, False, False]]


def test_flickering_flame_is_found_with_its_box() -> None:
    det = FireDetector()
    scene = Scene(0)
    found = []
    for _ in range(10):
        img = scene.frame()
        truth = scene.flame(img, 320, 250, 120, 80)
        found = det.detect([img])[0]
    assert len(found) == 1, found
    fire = found[0]
    assert fire.label == "fire" and fire.class_id == 0
    assert fire.score > 0.6
    assert iou(fire.box, truth) > 0.6, (fire.box, truth)
    x1, y1, x2, y2 = fire.box
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H


def test_no_fire_before_there_is_a_flicker_history() -> None:
    det = FireDetector()
    scene = Scene(1)
    out = []
    for _ in range(3):  # min_changes (3) changes need 4 frames
        img = scene.frame()
        scene.flame(img, 320, 250, 120, 80)
        out.append(det.detect([img])[0])
    assert out == [[], [], []]


def test_steady_orange_and_red_car_are_not_fire() -> None:
    """Fire-coloured but steady: an orange sign and a red car (both pass the colour rule)."""
    det = FireDetector(min_score=0.0)  # report any region with any flicker at all
    scene = Scene(2)
    for _ in range(10):
        img = scene.frame()
        cv2.rectangle(img, (300, 150), (360, 240), (0, 140, 255), -1)  # orange sign
        cv2.rectangle(img, (100, 200), (220, 240), (20, 40, 200), -1)  # red car
        assert fire_colour_mask(img)[220, 160] and fire_colour_mask(img)[200, 330]
        assert det.detect([img]) == [[]]


def test_moving_red_car_is_not_fire() -> None:
    """A rigid object changes each pixel about twice (arrive, leave): not flicker."""
    det = FireDetector()
    scene = Scene(3)
    for i in range(14):
        img = scene.frame()
        x = 50 + 15 * i
        cv2.rectangle(img, (x, 200), (x + 120, 240), (20, 40, 200), -1)
        assert det.detect([img]) == [[]]


def test_flicker_matters_same_colours_steady_vs_flickering() -> None:
    """The same flame, frozen (one frame repeated with sensor noise), scores far lower."""
    scene = Scene(4)
    frozen = scene.img.copy()
    scene.flame(frozen, 320, 250, 120, 80)
    steady = FireDetector(min_score=0.0)
    for _ in range(10):
        noisy = np.clip(frozen + scene.rng.normal(0, 2, frozen.shape), 0, 255).astype(np.uint8)
        steady_out = steady.detect([noisy])[0]
    assert steady_out == []
    live = FireDetector(min_score=0.0)
    for _ in range(10):
        img = scene.frame()
        scene.flame(img, 320, 250, 120, 80)
        live_out = live.detect([img])[0]
    assert len(live_out) == 1 and live_out[0].score > 0.6


def test_blue_scene_gives_nothing() -> None:
    det = FireDetector(min_score=0.0)
    scene = Scene(5, base=(200, 120, 40))  # BGR: blue
    rng = np.random.default_rng(5)
    for _ in range(10):
        img = scene.frame()
        # flickering blue shapes: flicker without fire colour is not fire either
        cv2.circle(img, (320, 180), int(rng.integers(20, 60)), (255, int(rng.integers(0, 200)), 0), -1)
        assert det.detect([img]) == [[]]


def test_keys_keep_separate_flicker_history() -> None:
    det = FireDetector()
    burning, quiet = Scene(6), Scene(7)
    for _ in range(10):
        hot = burning.frame()
        burning.flame(hot, 200, 250, 100, 70)
        out = det.detect([hot, quiet.frame()], keys=["cam-fire", "cam-quiet"])
    assert len(out[0]) == 1 and out[1] == []
    # A fresh key has no history yet, even when shown a flame.
    hot = burning.frame()
    burning.flame(hot, 200, 250, 100, 70)
    assert det.detect([hot], keys=["new-cam"]) == [[]]
    det.reset("cam-fire")
    assert det.detect([hot], keys=["cam-fire"]) == [[]]


def test_batch_in_batch_out_and_large_frames() -> None:
    det = FireDetector()
    scene = Scene(8)
    frames = []
    for _ in range(8):
        img = scene.frame()
        scene.flame(img, 450, 250, 120, 80)
        frames.append(cv2.resize(img, (1280, 720)))  # boxes must come back in 1280x720 pixels
    out = det.detect(frames)
    assert len(out) == len(frames)
    assert len(out[-1]) == 1
    x1, y1, x2, y2 = out[-1][0].box
    assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720
    assert 700 < (x1 + x2) / 2 < 1100 and y2 > 400  # around (900, 380..500) of the big frame


def test_min_area_and_bad_input() -> None:
    det = FireDetector(min_area=0.2)  # a fifth of the frame; the flame is about 6 %
    scene = Scene(9)
    for _ in range(10):
        img = scene.frame()
        scene.flame(img, 320, 250, 120, 80)
        assert det.detect([img]) == [[]]
    with pytest.raises(ValueError, match="keys"):
        det.detect([img], keys=["a", "b"])
    with pytest.raises(ValueError, match="image 0"):
        det.detect([img[..., 0]])
    with pytest.raises(ValueError):
        FireDetector(min_changes=9, history=8)
