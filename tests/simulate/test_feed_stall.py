"""pause()/resume() seen by an RTSP client: the stream stalls while the connection stays up.

This is the situation the hub's stall detection must handle: no RTP, yet TCP looks fine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from videohub.rtsp.client import RawRtspClient
from videohub.rtsp.h264 import NAL_IDR, nal_type
from videohub.rtsp.server import RtspServer
from videohub.simulate.base import SimulatedFeed
from videohub.simulate.file import FileFeed
from videohub.simulate.pattern import PatternFeed


@pytest.fixture(params=["pattern", "file"])
def feed(request: pytest.FixtureRequest, h264_mp4: Path) -> Iterator[SimulatedFeed]:
    f: SimulatedFeed = (
        PatternFeed(160, 120, fps=25, gop=10, name="cam") if request.param == "pattern" else FileFeed(h264_mp4)
    )
    yield f
    f.close()


def test_paused_feed_sends_nothing_but_keeps_the_connection(feed: SimulatedFeed) -> None:
    server = RtspServer({"cam": feed}.get, host="127.0.0.1", port=0)
    server.start()
    try:
        with RawRtspClient(server.url("cam")) as client:
            client.start()
            assert len(client.read_access_units(3, timeout=5)) == 3
            feed.pause()
            # Drain what was already on its way, then expect silence.
            while client.read_rtp(timeout=0.3) is not None:
                pass
            assert client.read_rtp(timeout=1.0) is None
            # Still connected, still a session: only the media stalled.
            assert client.request("GET_PARAMETER").status == 200
            assert server.session_count("cam") == 1
            feed.resume()
            units = client.read_access_units(2, timeout=5)
            assert len(units) == 2
            assert NAL_IDR in {nal_type(n) for n in units[0][1]}  # restarts on a key frame
    finally:
        server.stop()
