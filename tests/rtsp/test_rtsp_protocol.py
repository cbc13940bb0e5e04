"""The RTSP server at the protocol level, driven by a raw socket client."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from tests.conftest import wait_until
from videohub.rtsp.client import RawRtspClient
from videohub.rtsp.feed import AccessUnit, CodecConfig, Sink
from videohub.rtsp.h264 import NAL_IDR, NAL_SPS, nal_type
from videohub.rtsp.sdp import parse_fmtp
from videohub.rtsp.server import RtspServer
from videohub.simulate.pattern import PatternFeed


class SilentFeed:
    """A feed that never learns its parameter sets (a camera that never sends a key frame)."""

    def __init__(self) -> None:
        self.closed = 0

    def subscribe(self, sink: Sink) -> SilentFeed.Sub:
        return SilentFeed.Sub(self)

    class Sub:
        def __init__(self, feed: SilentFeed) -> None:
            self.feed = feed

        def wait_config(self, timeout: float) -> CodecConfig | None:
            time.sleep(min(timeout, 0.3))
            return None

        def close(self) -> None:
            self.feed.closed += 1


def test_options_lists_methods(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        reply = client.request("OPTIONS")
        assert reply.status == 200
        assert reply.header("cseq") == "1"
        public = {m.strip() for m in reply.header("public").split(",")}
        assert {"OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"} <= public


def test_describe_returns_sdp_with_parameter_sets(server: RtspServer, pattern_feed: PatternFeed) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        reply = client.request("DESCRIBE", headers={"Accept": "application/sdp"})
        assert reply.status == 200
        assert reply.header("content-type") == "application/sdp"
        assert reply.header("content-base") == server.url("cam1") + "/"
        sdp = reply.body.decode()
        assert "m=video 0 RTP/AVP 96" in sdp
        assert "a=rtpmap:96 H264/90000" in sdp
        assert "a=control:trackID=0" in sdp
        fmtp = parse_fmtp(sdp)
        config = pattern_feed.config
        assert config is not None
        assert fmtp["profile-level-id"] == config.sps[1:4].hex().upper()
        assert fmtp["packetization-mode"] == "1"


def test_unknown_path_is_404(server: RtspServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"DESCRIBE {server.url('nope')} RTSP/1.0\r\nCSeq: 7\r\n\r\n".encode())
        head = sock.recv(4096).decode()
    assert head.startswith("RTSP/1.0 404 Not Found\r\n")
    assert "CSeq: 7\r\n" in head
    assert server.session_count() == 0


def test_path_with_track_suffix_and_query_resolves(server: RtspServer) -> None:
    for url in (server.url("cam1/trackID=0"), server.url("cam1?token=abc"), server.url("cam1/")):
        with RawRtspClient(url) as client:
            assert client.request("DESCRIBE").status == 200


def test_error_statuses(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        assert client.request("PLAY", headers={"Session": "deadbeef"}).status == 454
        assert client.request("TEARDOWN", headers={"Session": "deadbeef"}).status == 454
        assert client.request("GET_PARAMETER", headers={"Session": "deadbeef"}).status == 454
        assert client.request("FROBNICATE").status == 501
        assert client.request("RECORD").status == 405
        client.describe()
        assert client.setup("RTP/AVP;multicast").status == 461
        assert client.setup("RTP/SAVP;unicast;client_port=5000-5001").status == 461
        assert server.session_count() == 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"OPTIONS {server.url('cam1')} RTSP/1.0\r\n\r\n".encode())  # no CSeq
        assert sock.recv(4096).startswith(b"RTSP/1.0 400 ")


def test_feed_without_config_gives_503() -> None:
    silent = SilentFeed()
    srv = RtspServer({"dark": silent}.get, host="127.0.0.1", port=0, config_timeout=0.3)
    srv.start()
    try:
        with RawRtspClient(srv.url("dark")) as client:
            assert client.request("DESCRIBE").status == 503
        assert wait_until(lambda: silent.closed == 1)  # the subscription was given back
    finally:
        srv.stop()


def test_play_streams_rtp_starting_with_a_key_frame(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.describe()
        setup = client.setup()
        assert setup.status == 200
        assert "interleaved=0-1" in setup.header("transport")
        assert ";timeout=" in setup.header("session")
        play = client.play()
        assert play.status == 200
        assert play.header("range").startswith("npt=")
        rtp_info = play.header("rtp-info")
        assert "seq=" in rtp_info and "rtptime=" in rtp_info
        units = client.read_access_units(12, timeout=5)
        assert len(units) == 12
        first_types = {nal_type(n) for n in units[0][1]}
        assert NAL_IDR in first_types and NAL_SPS in first_types
        assert all(nal_type(n) != 9 for _, nals in units for n in nals)  # AUDs dropped
        stamps = [ts for ts, _ in units]
        deltas = {(b - a) % 2**32 for a, b in zip(stamps, stamps[1:], strict=False)}
        assert deltas == {3600}  # 25 fps on the 90 kHz clock
        seq = int(rtp_info.split("seq=")[1].split(";")[0])
        rtptime = int(rtp_info.split("rtptime=")[1].split(";")[0])
        assert stamps[0] == rtptime
        assert seq >= 0


def test_first_rtp_packet_matches_rtp_info(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.describe()
        client.setup()
        rtp_info = client.play().header("rtp-info")
        first = client.read_rtp(timeout=5)
        assert first is not None
        assert f"seq={first.seq}" in rtp_info
        assert f"rtptime={first.timestamp}" in rtp_info


def test_session_count_after_teardown_and_disconnect(server: RtspServer) -> None:
    a = RawRtspClient(server.url("cam1"))
    b = RawRtspClient(server.url("cam1"))
    try:
        a.start()
        b.start()
        assert server.session_count() == 2
        assert server.session_count("cam1") == 2
        assert server.session_count("other") == 0
        assert a.teardown().status == 200
        assert wait_until(lambda: server.session_count() == 1)
        b.close()  # plain disconnect, no TEARDOWN
        assert wait_until(lambda: server.session_count() == 0)
    finally:
        a.close()
        b.close()


def test_subscription_released_when_client_leaves(server: RtspServer, pattern_feed: PatternFeed) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.start()
        assert pattern_feed.subscriber_count == 1
        assert client.read_rtp(timeout=5) is not None
    assert wait_until(lambda: pattern_feed.subscriber_count == 0)
    assert wait_until(lambda: not pattern_feed.running)  # nobody watches: the encoder stops


def test_describe_without_setup_releases_subscription_on_close(server: RtspServer, pattern_feed: PatternFeed) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.describe()
        assert pattern_feed.subscriber_count == 1
    assert wait_until(lambda: pattern_feed.subscriber_count == 0)


def test_setup_without_describe_subscribes(server: RtspServer, pattern_feed: PatternFeed) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        assert client.setup(url=server.url("cam1/trackID=0")).status == 200
        assert client.play().status == 200
        assert client.read_rtp(timeout=5) is not None
        assert pattern_feed.subscriber_count == 1


def test_keepalives_and_session_timeout(pattern_feed: PatternFeed) -> None:
    srv = RtspServer({"cam1": pattern_feed}.get, host="127.0.0.1", port=0, session_timeout=1)
    srv.start()
    try:
        with RawRtspClient(srv.url("cam1")) as client:
            client.describe()
            assert client.setup().status == 200
            assert srv.session_count() == 1
            for _ in range(5):  # keep-alives hold the session open past its timeout
                time.sleep(0.3)
                assert client.request("GET_PARAMETER").status == 200
            assert client.request("SET_PARAMETER").status == 200
            assert srv.session_count() == 1
            # Silence (and no PLAY) lets it expire; the subscription goes with it.
            assert wait_until(lambda: srv.session_count() == 0, timeout=4)
            with RawRtspClient(srv.url("cam1")) as other:
                assert other.request("PLAY", headers={"Session": client.session or ""}).status == 454
        assert wait_until(lambda: pattern_feed.subscriber_count == 0)
    finally:
        srv.stop()


def test_two_sessions_on_one_connection_get_distinct_channels(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.describe()
        first = client.setup()
        client.session = None
        second = client.setup()
        assert first.status == second.status == 200
        assert "interleaved=0-1" in first.header("transport")
        assert "interleaved=2-3" in second.header("transport")
        assert server.session_count() == 2
    assert wait_until(lambda: server.session_count() == 0)


def test_stop_disconnects_clients_and_frees_the_port(pattern_feed: PatternFeed) -> None:
    srv = RtspServer({"cam1": pattern_feed}.get, host="127.0.0.1", port=0)
    srv.start()
    port = srv.port
    client = RawRtspClient(srv.url("cam1"))
    try:
        client.start()
        assert client.read_rtp(timeout=5) is not None
        srv.stop()
        srv.stop()  # idempotent
        assert srv.session_count() == 0
        assert pattern_feed.subscriber_count == 0
        with pytest.raises(ConnectionError):
            while client.read_packet(timeout=2) is not None:
                pass
            raise AssertionError("connection still open after stop()")
    finally:
        client.close()
    again = RtspServer({"cam1": pattern_feed}.get, host="127.0.0.1", port=port)
    again.start()  # SO_REUSEADDR: no TIME_WAIT trouble
    try:
        assert again.port == port
        with RawRtspClient(again.url("cam1")) as c2:
            assert c2.request("OPTIONS").status == 200
    finally:
        again.stop()


def test_busy_port_raises_oserror_naming_the_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        srv = RtspServer(lambda path: None, host="127.0.0.1", port=port)
        with pytest.raises(OSError, match=str(port)):
            srv.start()
        srv.stop()  # harmless on a server that never started


def test_credentials_never_logged(server: RtspServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="videohub.rtsp")
    url = f"rtsp://admin:hunter2@127.0.0.1:{server.port}/cam1"
    with RawRtspClient(url) as client:
        client.start()
        assert client.request("DESCRIBE", url=f"rtsp://admin:hunter2@127.0.0.1:{server.port}/nope").status == 404
    assert wait_until(lambda: server.session_count() == 0)
    text = caplog.text
    assert "DESCRIBE rtsp://***@127.0.0.1" in text
    assert "hunter2" not in text and "admin" not in text


class BurstFeed:
    """Produces big frames as fast as possible from its own thread, counting them."""

    def __init__(self, frame_bytes: int = 100_000) -> None:
        self.sps = bytes([0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5])
        self.pps = bytes([0x68, 0xCE, 0x3C, 0x80])
        self.frame = bytes([0x41]) + bytes((i % 250) + 1 for i in range(frame_bytes))
        self.idr = bytes([0x65]) + self.frame[1:]
        self.produced = 0
        self.sinks: list[Sink] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stop.wait(0.004):
            key = i % 30 == 0
            nal = self.idr if key else self.frame
            au = AccessUnit(b"\x00\x00\x00\x01" + nal, pts=i / 500, keyframe=key)
            for sink in list(self.sinks):
                sink(au)
            self.produced += 1
            i += 1

    def subscribe(self, sink: Sink) -> BurstFeed:
        self.sinks.append(sink)
        return self

    def wait_config(self, timeout: float) -> CodecConfig:
        return CodecConfig(self.sps, self.pps)

    def close(self) -> None:
        self.sinks.clear()


def test_stalled_client_is_bounded_and_does_not_block_others() -> None:
    feed = BurstFeed()
    srv = RtspServer({"burst": feed}.get, host="127.0.0.1", port=0, queue_frames=20, queue_bytes=2_000_000)
    srv.start()
    stalled = RawRtspClient(srv.url("burst"))
    reader = RawRtspClient(srv.url("burst"))
    try:
        stalled.start()  # ... and then never reads a byte
        reader.start()
        start_count = feed.produced
        received = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            item = reader.read_packet(timeout=1.0)
            assert item is not None
            received += len(item[1])
        # The producer kept its pace and the reading client kept receiving.
        assert feed.produced - start_count > 100
        assert received > 1_000_000
        # The stalled client's queue stayed within its bounds.
        for session in list(srv._sessions.values()):
            assert len(session.tap.queue) <= 20
            assert session.tap.queued_bytes <= 2_000_000
        assert max(s.tap.dropped for s in srv._sessions.values()) > 0
    finally:
        stalled.close()
        reader.close()
        srv.stop()
        feed.stop.set()


def test_rtcp_sender_reports_are_sent(server: RtspServer) -> None:
    with RawRtspClient(server.url("cam1")) as client:
        client.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            item = client.read_packet(timeout=2)
            assert item is not None
            channel, data = item
            if channel == 1:
                assert data[1] == 200  # SR
                rtp = client.read_rtp(timeout=2)
                assert rtp is not None
                assert int.from_bytes(data[4:8], "big") == rtp.ssrc
                return
        raise AssertionError("no RTCP sender report")
