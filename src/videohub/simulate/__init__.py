"""Simulated cameras: synthetic or file-backed H.264 feeds served over RTSP.

`videohub simulate` (see `command`) runs them as stand-alone cameras; tests and the demo
use the feeds and `start_simulator` in-process.
"""

from videohub.simulate.base import FeedSubscription, SimulatedFeed
from videohub.simulate.command import CameraSpecError, make_feed, start_simulator
from videohub.simulate.file import FileFeed, MediaFileError
from videohub.simulate.pattern import PatternFeed

__all__ = [
    "CameraSpecError",
    "FeedSubscription",
    "FileFeed",
    "MediaFileError",
    "PatternFeed",
    "SimulatedFeed",
    "make_feed",
    "start_simulator",
]
