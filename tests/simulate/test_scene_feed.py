"""SceneFeed through the real libx264 encoder and decoder, and the `scene` camera spec."""

from __future__ import annotations

import queue

import pytest

from tests.simulate.conftest import decode
from tests.simulate.test_pattern_feed import collect
from tests.simulate.test_scene import clear_walkers, iou
from videohub.detect.classic import FireDetector, HogPeopleDetector
from videohub.rtsp.feed import AccessUnit
from videohub.simulate.command import CameraSpecError, make_feed
from videohub.simulate.pattern import PatternFeed
from videohub.simulate.scene import SceneFeed, SceneRenderer, camera_seed


def test_encoded_scene_still_shows_walkers_and_fire() -> None:
    feed = SceneFeed(640, 360, fps=25, gop=25, name="street")
    assert feed.seed == camera_seed("street")
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert sub.wait_config(5.0) is not None
        units = collect(q, 10)
    finally:
        sub.close()
        feed.close()
    frames = [f.to_ndarray(format="bgr24") for f in decode(units)]
    assert len(frames) == 10 and frames[0].shape == (360, 640, 3)
    truth = SceneRenderer(640, 360, "street", seed=feed.seed)  # frame i of a fresh feed is index i

    fire = FireDetector()
    found = fire.detect(frames, keys=["street"] * len(frames))
    assert all(len(f) == 1 and iou(f[0].box, truth.flame_box) > 0.6 for f in found[4:]), found

    hog = HogPeopleDetector()
    checked = 0
    for i in (0, 9):
        people = hog.detect([frames[i]])[0]
        for walker in clear_walkers(truth.people(i, 25), 640):
            checked += 1
            assert max((iou(walker, d.box) for d in people), default=0.0) > 0.5, (i, walker, people)
    assert checked >= 2


@pytest.mark.parametrize(
    ("spec", "size", "fps"),
    [("scene", (1280, 720), 25), ("scene:320x240", (320, 240), 25), ("SCENE:640x360@10", (640, 360), 10)],
)
def test_scene_specs(spec: str, size: tuple[int, int], fps: int) -> None:
    feed = make_feed("square", spec)
    assert isinstance(feed, SceneFeed) and isinstance(feed, PatternFeed)
    assert ((feed.width, feed.height), feed.fps, feed.name) == (size, fps, "square")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("scene:big", "scene:WIDTHxHEIGHT"),
        ("scene:321x240", "even"),
        ("scene:8x8", "between 16"),
        ("scene:320x240@0", "fps"),
        ("scene.mp4", "video file not found"),  # a file may be called scene-something
    ],
)
def test_bad_scene_specs(spec: str, needle: str) -> None:
    with pytest.raises(CameraSpecError, match=needle):
        make_feed("square", spec)
