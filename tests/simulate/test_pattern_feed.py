"""PatternFeed as a MediaFeed: config, GOP structure, pacing, on-demand thread, pause."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import wait_until
from tests.simulate.conftest import decode
from videohub.rtsp.feed import AccessUnit
from videohub.rtsp.h264 import NAL_IDR, NAL_PPS, NAL_SPS, nal_type, split_annexb
from videohub.simulate.pattern import PatternFeed, PatternRenderer


def collect(q: queue.Queue[AccessUnit], count: int, timeout: float = 5.0) -> list[AccessUnit]:
    out: list[AccessUnit] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            out.append(q.get(timeout=remaining))
        except queue.Empty:
            break
    return out


@pytest.fixture
def feed() -> Iterator[PatternFeed]:
    f = PatternFeed(320, 240, fps=25, gop=5, name="unit")
    yield f
    f.close()


def test_config_and_gop_structure(feed: PatternFeed) -> None:
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        config = sub.wait_config(5.0)
        assert config is not None
        assert (config.width, config.height) == (320, 240)
        assert nal_type(config.sps) == NAL_SPS and nal_type(config.pps) == NAL_PPS
        units = collect(q, 12)
    finally:
        sub.close()
    assert len(units) == 12
    assert [au.keyframe for au in units] == [i % 5 == 0 for i in range(12)]
    for au in units:
        types = [nal_type(n) for n in split_annexb(au.data)]
        if au.keyframe:  # parameter sets in-band at every key frame
            assert types[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in types
        else:
            assert NAL_SPS not in types and NAL_IDR not in types
    steps = [b.pts - a.pts for a, b in zip(units, units[1:], strict=False)]
    assert all(abs(s - 0.04) < 1e-6 for s in steps)  # a steady clock, not arrival jitter


def test_frames_decode_and_move(feed: PatternFeed) -> None:
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        units = collect(q, 10)
    finally:
        sub.close()
    frames = decode(units)
    assert len(frames) == 10
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    first, last = frames[0].to_ndarray(format="gray"), frames[-1].to_ndarray(format="gray")
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 0.5  # things move


def test_paced_in_real_time() -> None:
    feed = PatternFeed(160, 120, fps=20, gop=20, name="pace")
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert sub.wait_config(5.0) is not None
        start = time.monotonic()
        units = collect(q, 11)
        elapsed = time.monotonic() - start
    finally:
        sub.close()
        feed.close()
    assert len(units) == 11
    assert 0.3 < elapsed < 1.5  # ~0.5 s for 10 frame intervals at 20 fps


def test_encoder_runs_only_while_subscribed(feed: PatternFeed) -> None:
    assert not feed.running
    q: queue.Queue[AccessUnit] = queue.Queue()
    a = feed.subscribe(q.put)
    b = feed.subscribe(lambda au: None)
    assert feed.running and feed.subscriber_count == 2
    assert a.wait_config(5.0) is not None
    a.close()
    a.close()  # idempotent
    assert feed.running  # b still watches
    b.close()
    assert wait_until(lambda: not feed.running)
    published = feed.frames_published
    time.sleep(0.2)
    assert feed.frames_published == published
    # And it starts again, with the config known at once.
    c = feed.subscribe(q.put)
    try:
        assert feed.running
        assert c.wait_config(0.01) is not None
    finally:
        c.close()


def test_wait_config_returns_none_once_closed(feed: PatternFeed) -> None:
    sub = feed.subscribe(lambda au: None)
    sub.close()
    assert sub.wait_config(1.0) is None


def test_late_subscriber_starts_on_a_key_frame() -> None:
    feed = PatternFeed(160, 120, fps=25, gop=25, name="late")
    first: queue.Queue[AccessUnit] = queue.Queue()
    late: queue.Queue[AccessUnit] = queue.Queue()
    a = feed.subscribe(first.put)
    try:
        assert len(collect(first, 7)) == 7  # mid-GOP now
        b = feed.subscribe(late.put)
        units = collect(late, 3)
        b.close()
    finally:
        a.close()
        feed.close()
    assert units[0].keyframe  # the cached GOP is replayed, starting at its key frame
    assert [u.pts for u in units] == sorted(u.pts for u in units)


def test_pause_stalls_and_resume_restarts_on_key_frame(feed: PatternFeed) -> None:
    q: queue.Queue[AccessUnit] = queue.Queue()
    sub = feed.subscribe(q.put)
    try:
        assert len(collect(q, 3)) == 3
        feed.pause()
        assert feed.paused
        time.sleep(0.1)
        while not q.empty():
            q.get_nowait()
        assert collect(q, 1, timeout=0.5) == []  # nothing while paused
        feed.resume()
        units = collect(q, 2)
        assert len(units) == 2
        assert units[0].keyframe  # forced IDR: clients recover at once
    finally:
        sub.close()


def test_broken_sink_does_not_stop_the_feed(feed: PatternFeed) -> None:
    def broken(au: AccessUnit) -> None:
        raise RuntimeError("boom")

    q: queue.Queue[AccessUnit] = queue.Queue()
    bad = feed.subscribe(broken)
    good = feed.subscribe(q.put)
    try:
        assert len(collect(q, 5)) == 5
    finally:
        bad.close()
        good.close()


def test_renderer_draws_distinct_frames() -> None:
    renderer = PatternRenderer(320, 240, "cam9")
    a = renderer.render(0, 25, time.time())
    b = renderer.render(25, 25, time.time() + 1)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert a.max() > 230  # the bright region


@pytest.mark.parametrize("kwargs", [{"width": 321}, {"height": 0}, {"fps": 0}, {"gop": 0}])
def test_invalid_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PatternFeed(**kwargs)  # type: ignore[arg-type]
