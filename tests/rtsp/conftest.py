"""Fixtures for the RTSP server tests: a small live test pattern served on a free port."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from videohub.rtsp.server import RtspServer
from videohub.simulate.pattern import PatternFeed


@pytest.fixture
def pattern_feed() -> Iterator[PatternFeed]:
    feed = PatternFeed(320, 240, fps=25, gop=10, name="cam1")
    yield feed
    feed.close()


@pytest.fixture
def server(pattern_feed: PatternFeed) -> Iterator[RtspServer]:
    srv = RtspServer({"cam1": pattern_feed}.get, host="127.0.0.1", port=0, config_timeout=3.0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def ffprobe() -> str:
    """Path of ffprobe; skipped when missing, except on CI where it must be installed."""
    path = shutil.which("ffprobe")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("ffprobe is required on CI (CI is set) but was not found on PATH")
        pytest.skip("ffprobe not found on PATH (install ffmpeg to run this test)")
    return path
