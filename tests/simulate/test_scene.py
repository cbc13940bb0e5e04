"""The city scene renderer against the real built-in detectors (no mocks).

The scene exists so that `videohub demo` detects something out of the box: HOG must find
the walkers, the fire rule the burning window, and background subtraction the movement.
"""

from __future__ import annotations

import numpy as np
import pytest

from videohub.detect.classic import FireDetector, HogPeopleDetector, MotionDetector, fire_colour_mask
from videohub.simulate.scene import SceneRenderer, camera_seed

Box = tuple[float, float, float, float]
W, H, FPS = 1280, 720, 25
# Frames spread over a minute of video where two or three walkers are clear of the frame
# edges and of each other (17 walkers in all).
HOG_FRAMES = (300, 350, 500, 800, 1000, 1050)


def iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def overlap(a: Box, b: Box) -> float:
    """The share of `a` covered by `b`."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]))


def clear_walkers(people: list[Box], width: int) -> list[Box]:
    """Walkers wholly inside the frame (with a margin) that overlap no other walker."""
    margin = 0.03 * width
    return [
        b
        for b in people
        if b[0] >= margin
        and b[2] <= width - margin
        and all(o is b or min(b[2], o[2]) <= max(b[0], o[0]) for o in people)
    ]


@pytest.fixture(scope="module")
def scene() -> SceneRenderer:
    return SceneRenderer(W, H, "square", seed=7)


@pytest.fixture(scope="module")
def hog() -> HogPeopleDetector:
    return HogPeopleDetector()


def test_frames_are_deterministic_and_move(scene: SceneRenderer) -> None:
    again = SceneRenderer(W, H, "square", seed=7)
    a = scene.render(50, FPS, 1000.0)
    assert a.shape == (H, W, 3) and a.dtype == np.uint8
    assert np.array_equal(a, again.render(50, FPS, 1000.0))
    assert not np.array_equal(a, scene.render(51, FPS, 1000.0))  # walkers and flames move
    other = SceneRenderer(W, H, "square", seed=8)
    assert not np.array_equal(a, other.render(50, FPS, 1000.0))  # another camera's wall
    assert other.people(50, FPS) == scene.people(50, FPS)  # the seed is the texture, not the walk
    assert camera_seed("square") == camera_seed("square") != camera_seed("gate")


def test_walkers_cross_the_frame_at_different_speeds(scene: SceneRenderer) -> None:
    now, later = scene.people(300, FPS), scene.people(300 + FPS, FPS)  # one second apart, all in view
    assert len(now) == len(later) == 3
    heights = sorted(b[3] - b[1] for b in now)
    assert heights[0] >= 0.45 * H and heights[-1] <= 0.6 * H  # HOG-sized after a shrink to 640 wide
    speeds = sorted(abs((b[0] + b[2]) - (a[0] + a[2])) / 2 for a, b in zip(now, later, strict=True))
    assert speeds[0] > 30 and speeds[1] - speeds[0] > 10 and speeds[2] - speeds[1] > 10, speeds


def test_small_frames_render(scene: SceneRenderer) -> None:
    tiny = SceneRenderer(16, 16, "t")
    assert tiny.render(3, FPS, 0.0).shape == (16, 16, 3)
    with pytest.raises(ValueError):
        SceneRenderer(8, 8, "t")


def test_hog_finds_the_walkers_and_nothing_else(scene: SceneRenderer, hog: HogPeopleDetector) -> None:
    checked = 0
    for index in HOG_FRAMES:
        people = scene.people(index, FPS)
        found = hog.detect([scene.render(index, FPS, 1000.0 + index / FPS)])[0]
        for walker in clear_walkers(people, W):
            checked += 1
            assert max((iou(walker, d.box) for d in found), default=0.0) > 0.5, (index, walker, found)
        for d in found:  # no person boxes on the wall, the text or the fire
            assert max(iou(d.box, p) for p in people) > 0.3, (index, d, people)
    assert checked >= 15


def test_hog_sees_no_one_in_an_empty_scene(hog: HogPeopleDetector) -> None:
    empty = SceneRenderer(W, H, "square", seed=7, walkers=())
    assert hog.detect([empty.render(i, FPS, 1000.0) for i in (0, 13)]) == [[], []]


@pytest.mark.parametrize("step", [1, 12], ids=["25fps", "2fps"])
def test_fire_is_found_at_the_flames_only(scene: SceneRenderer, step: int) -> None:
    fire = FireDetector()
    for n in range(10):
        index = 200 + n * step
        found = fire.detect([scene.render(index, FPS, 1000.0 + index / FPS)], keys=["square"])[0]
        if n < 4:
            continue  # the flicker history is filling up
        assert len(found) == 1, (index, found)
        assert found[0].score > 0.3  # most of the flame flickers (the detector's bar is 0.2)
        assert iou(found[0].box, scene.flame_box) > 0.7, (found[0].box, scene.flame_box)


def test_nothing_but_the_flames_is_fire_coloured(scene: SceneRenderer) -> None:
    img = scene.render(300, FPS, 1000.0)
    mask = fire_colour_mask(img)
    x1, y1, x2, y2 = (int(v) for v in scene.flame_box)
    assert mask[y1:y2, x1:x2].mean() > 0.3
    mask[y1 : y2 + 1, x1 : x2 + 1] = False
    assert not mask.any()


def test_motion_boxes_the_walkers(scene: SceneRenderer) -> None:
    motion = MotionDetector()
    found: list = []
    index = 0
    for n in range(25):  # about 8 frames a second, as an analytics sampler would send them
        index = 300 + 3 * n
        found = motion.detect([scene.render(index, FPS, 1000.0)], keys=["square"])[0]
    people = scene.people(index, FPS)
    assert found
    for walker in clear_walkers(people, W):
        assert any(overlap(walker, d.box) > 0.05 for d in found), (walker, found)
    for d in found:  # only the walkers and the flames move (the clock is frozen here)
        assert max(overlap(d.box, b) for b in [*people, scene.flame_box]) > 0.5, (d, people)
