"""A small RTSP 1.0 server (RFC 2326) that serves `MediaFeed`s to pull clients.

Why our own: PyAV's and FFmpeg's RTSP muxers can only push to a server, and no external
server (MediaMTX, GStreamer) may be assumed. The server is deliberately small: one H.264
track per path, RTP over TCP (interleaved) or UDP unicast, RTCP sender reports.

Threading model: everything network-facing runs on one asyncio loop in a daemon thread.
Feeds call our sink from their own producer threads; the sink only hands the access unit
to the loop with `call_soon_threadsafe`. Every client has its own bounded queue; when it
overflows, frames are dropped until the next key frame, so a slow client only hurts
itself and memory stays bounded. Blocking feed calls (`wait_config`, `close`) run on a
small thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from videohub.rtsp.feed import AccessUnit, CodecConfig, FeedResolver, MediaFeed, Subscription
from videohub.rtsp.h264 import NAL_AUD, NAL_IDR, nal_type, split_annexb, with_parameter_sets
from videohub.rtsp.rtp import (
    CLOCK_RATE,
    DEFAULT_PAYLOAD_MTU,
    H264Packetizer,
    interleave,
    ntp_timestamp,
    rtcp_sender_report,
)
from videohub.rtsp.sdp import build_sdp
from videohub.rtsp.urls import base_url, mask_credentials, request_path, strip_credentials

logger = logging.getLogger("videohub.rtsp")

SERVER_NAME = "videohub-rtsp"
PUBLIC_METHODS = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER")
# Real RTSP methods we deliberately do not offer (publishing): 405, not 501.
_KNOWN_UNSUPPORTED = ("ANNOUNCE", "RECORD", "REDIRECT")

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}

_MAX_HEADER_BYTES = 16 * 1024
_MAX_BODY_BYTES = 64 * 1024
_MAX_PENDING_TAPS = 8  # DESCRIBEd-but-not-SETUP subscriptions kept per connection
_SR_INTERVAL = 5.0  # seconds between RTCP sender reports


class RtspError(Exception):
    """A request that ends in an RTSP error status (raised inside handlers)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or REASONS.get(status, ""))
        self.status = status


@dataclass
class RtspRequest:
    method: str
    url: str
    version: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    @property
    def cseq(self) -> str | None:
        return self.headers.get("cseq")

    @property
    def session_id(self) -> str | None:
        value = self.headers.get("session")
        return value.split(";", 1)[0].strip() if value else None


@dataclass
class RtspResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # Run after the response is written (PLAY starts the stream only then).
    after: Callable[[], None] | None = None

    def encode(self, cseq: str | None) -> bytes:
        lines = [f"RTSP/1.0 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines.append(f"Server: {SERVER_NAME}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse_request(head: bytes) -> RtspRequest:
    """Parse a request line and headers (everything up to the blank line)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RtspError(400, "request is not UTF-8") from exc
    lines = text.split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        raise RtspError(400, "malformed request line")
    method, url, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RtspError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    return RtspRequest(method.upper(), url, version, headers)


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class TransportSpec:
    """The transport a client asked for in SETUP, reduced to what we support."""

    protocol: str  # "tcp" or "udp"
    interleaved: tuple[int, int] | None = None
    client_ports: tuple[int, int] | None = None


def _port_pair(value: str) -> tuple[int, int]:
    first, _, second = value.partition("-")
    a = int(first)
    b = int(second) if second else a + 1
    if not (0 <= a <= 65535 and 0 <= b <= 65535):
        raise ValueError("port out of range")
    return a, b


def parse_transport(header: str) -> TransportSpec | None:
    """Pick the first alternative of a Transport header that we can serve, else None."""
    for alternative in header.split(","):
        params = [p.strip() for p in alternative.split(";") if p.strip()]
        if not params:
            continue
        proto = params[0].upper()
        opts: dict[str, str] = {}
        for p in params[1:]:
            key, _, value = p.partition("=")
            opts[key.strip().lower()] = value.strip()
        if "multicast" in opts:
            continue
        try:
            if proto == "RTP/AVP/TCP":
                pair = _port_pair(opts["interleaved"]) if "interleaved" in opts else (0, 1)
                if not (pair[0] <= 255 and pair[1] <= 255):
                    continue
                return TransportSpec("tcp", interleaved=pair)
            if proto in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in opts:
                return TransportSpec("udp", client_ports=_port_pair(opts["client_port"]))
        except ValueError:
            continue
    return None


class _UdpSink(asyncio.DatagramProtocol):
    """Receives on a server RTP/RTCP port; anything arriving counts as client activity."""

    def __init__(self, on_packet: Callable[[], None]) -> None:
        self._on_packet = on_packet

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._on_packet()

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        logger.debug("UDP error from client: %s", exc)


# --------------------------------------------------------------------------- feed tap


class _FeedTap:
    """One subscription to a feed plus the client's bounded frame queue.

    Before PLAY it keeps only the group of pictures since the last key frame, so PLAY can
    start at once on a key frame. While playing, overflow empties the queue and drops
    frames until the next key frame (a decoder cannot resume mid-GOP anyway).
    """

    def __init__(self, server: RtspServer, path: str, max_frames: int, max_bytes: int) -> None:
        self.server = server
        self.path = path
        self.loop = server._require_loop()
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.subscription: Subscription | None = None
        self.config: CodecConfig | None = None
        self.playing = False
        self.closed = False
        self.queue: deque[AccessUnit] = deque()
        self.queued_bytes = 0
        self.need_key = True
        self.dropped = 0
        self.wakeup = asyncio.Event()
        # subscribe() runs on a worker thread while close() runs on the loop: this lock
        # makes sure a subscription that arrives after close() is closed, not leaked.
        self._sub_lock = threading.Lock()

    def sink(self, au: AccessUnit) -> None:
        """Called from the producer's thread: hand over to the loop, never block or raise."""
        if self.closed:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
            self.loop.call_soon_threadsafe(self._push, au)

    def _clear(self) -> None:
        self.dropped += len(self.queue)
        self.queue.clear()
        self.queued_bytes = 0

    def _push(self, au: AccessUnit) -> None:
        if self.closed:
            return
        if au.keyframe and not self.playing:
            self._clear()  # a new GOP makes the buffered one useless before PLAY
        if self.need_key:
            if not au.keyframe:
                self.dropped += 1
                return
            self.need_key = False
        if len(self.queue) >= self.max_frames or self.queued_bytes + len(au.data) > self.max_bytes:
            self._clear()
            if not au.keyframe:
                self.need_key = True
                self.dropped += 1
                if self.playing:
                    logger.debug("client queue for %s overflowed; waiting for a key frame", self.path)
                return
        self.queue.append(au)
        self.queued_bytes += len(au.data)
        if self.playing:
            self.wakeup.set()

    def start_playing(self) -> None:
        self.playing = True
        if self.queue:
            self.wakeup.set()

    def stop_playing(self) -> None:
        self.playing = False
        self._clear()
        self.need_key = True

    async def get(self) -> AccessUnit | None:
        """The next frame to send, or None once the tap is closed."""
        while not self.queue:
            if self.closed:
                return None
            self.wakeup.clear()
            await self.wakeup.wait()
        if self.closed:
            return None
        au = self.queue.popleft()
        self.queued_bytes -= len(au.data)
        return au

    def attach(self, feed: MediaFeed, timeout: float) -> CodecConfig | None:
        """Subscribe and wait for the parameter sets (blocking: run on a worker thread)."""
        sub = feed.subscribe(self.sink)
        with self._sub_lock:
            if self.closed:
                late = True
            else:
                late = False
                self.subscription = sub
        if late:
            sub.close()
            return None
        return sub.wait_config(timeout)

    def close(self) -> None:
        with self._sub_lock:
            if self.closed:
                return
            self.closed = True
            sub, self.subscription = self.subscription, None
        self.queue.clear()
        self.queued_bytes = 0
        self.wakeup.set()
        if sub is not None:
            self.server._close_subscription(sub)


# --------------------------------------------------------------------------- session


class _Session:
    """One client session: a tap, a transport and (while playing) a sender task."""

    def __init__(self, server: RtspServer, conn: _Connection, tap: _FeedTap, control_url: str) -> None:
        self.server = server
        self.conn = conn
        self.tap = tap
        self.path = tap.path
        self.id = secrets.token_hex(8)
        self.control_url = control_url
        self.last_activity = time.monotonic()
        self.transport: TransportSpec | None = None
        self.udp_rtp: asyncio.DatagramTransport | None = None
        self.udp_rtcp: asyncio.DatagramTransport | None = None
        self.server_ports: tuple[int, int] | None = None
        self.packetizer = H264Packetizer(ssrc=secrets.randbits(32), seq=secrets.randbits(16), mtu=server.payload_mtu)
        self.rtp_base = secrets.randbits(32)
        self.first_pts: float | None = None
        self.last_pts = 0.0
        self.last_sent_mono = 0.0
        self.last_sr = 0.0
        self.sender: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def playing(self) -> bool:
        return self.sender is not None and not self.sender.done()

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def expired(self, now: float) -> bool:
        # A TCP-interleaved session that is playing lives as long as its connection: some
        # clients send no keep-alives then, and a dead peer shows up as a stalled write.
        if self.playing and self.transport is not None and self.transport.protocol == "tcp":
            return False
        return now - self.last_activity > self.server.session_timeout

    def rtp_timestamp(self, pts: float) -> int:
        if self.first_pts is None:
            self.first_pts = pts
        return (self.rtp_base + round((pts - self.first_pts) * CLOCK_RATE)) & 0xFFFFFFFF

    async def setup_udp(self, spec: TransportSpec) -> None:
        assert spec.client_ports is not None
        for old in (self.udp_rtp, self.udp_rtcp):  # a repeated SETUP replaces the ports
            if old is not None:
                old.close()
        self.udp_rtp = self.udp_rtcp = None
        loop = asyncio.get_running_loop()
        local_ip = self.conn.local_ip
        family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
        last_error: OSError | None = None
        for _ in range(20):
            rtp_sock = socket.socket(family, socket.SOCK_DGRAM)
            rtcp_sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp_sock.bind((local_ip, 0))
                port = rtp_sock.getsockname()[1]
                if port >= 65535:
                    raise OSError("no room for the RTCP port")
                rtcp_sock.bind((local_ip, port + 1))
            except OSError as exc:
                last_error = exc
                rtp_sock.close()
                rtcp_sock.close()
                continue
            rtp_sock.setblocking(False)
            rtcp_sock.setblocking(False)
            self.udp_rtp, _ = await loop.create_datagram_endpoint(lambda: _UdpSink(lambda: None), sock=rtp_sock)
            self.udp_rtcp, _ = await loop.create_datagram_endpoint(lambda: _UdpSink(self.touch), sock=rtcp_sock)
            self.server_ports = (port, port + 1)
            self.transport = spec
            return
        raise RtspError(461, f"no free UDP port pair: {last_error}")

    def transport_header(self) -> str:
        assert self.transport is not None
        ssrc = f"{self.packetizer.ssrc:08X}"
        if self.transport.protocol == "tcp":
            assert self.transport.interleaved is not None
            a, b = self.transport.interleaved
            return f"RTP/AVP/TCP;unicast;interleaved={a}-{b};ssrc={ssrc}"
        assert self.transport.client_ports is not None and self.server_ports is not None
        ca, cb = self.transport.client_ports
        sa, sb = self.server_ports
        return f"RTP/AVP;unicast;client_port={ca}-{cb};server_port={sa}-{sb};ssrc={ssrc}"

    def start(self) -> None:
        if self.playing:
            return
        self.tap.start_playing()
        self.sender = asyncio.get_running_loop().create_task(self._send_loop())

    def pause(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None
        self.tap.stop_playing()

    async def _send_loop(self) -> None:
        config = self.tap.config
        try:
            while True:
                au = await self.tap.get()
                if au is None:
                    return
                nals = [n for n in split_annexb(au.data) if nal_type(n) != NAL_AUD]
                if not nals:
                    continue
                if config is not None and any(nal_type(n) == NAL_IDR for n in nals):
                    nals = with_parameter_sets(nals, config.sps, config.pps)
                packets = self.packetizer.packetize(nals, self.rtp_timestamp(au.pts))
                self.last_pts = au.pts
                self.last_sent_mono = time.monotonic()
                await self._send(packets, rtcp=False)
                if self.last_sent_mono - self.last_sr >= _SR_INTERVAL:
                    self.last_sr = self.last_sent_mono
                    await self._send([self._sender_report()], rtcp=True)
        except TimeoutError:  # (a subclass of OSError: must come first)
            logger.info("session %s for %s: client stopped reading; dropping it", self.id, self.path)
            self.conn.abort()
            self.server._end_session(self, "write stalled")
        except OSError as exc:  # ConnectionError included
            logger.info("session %s for %s: client gone (%s)", self.id, self.path, exc)
            self.server._end_session(self, "send failed")

    def _sender_report(self) -> bytes:
        p = self.packetizer
        rtp_ts = self.rtp_timestamp(self.last_pts)
        return rtcp_sender_report(p.ssrc, ntp_timestamp(), rtp_ts, p.packet_count, p.octet_count)

    async def _send(self, packets: list[bytes], rtcp: bool) -> None:
        spec = self.transport
        assert spec is not None
        if spec.protocol == "tcp":
            assert spec.interleaved is not None
            channel = spec.interleaved[1] if rtcp else spec.interleaved[0]
            await self.conn.send(b"".join(interleave(channel, p) for p in packets))
            return
        target = self.udp_rtcp if rtcp else self.udp_rtp
        assert spec.client_ports is not None
        if target is None or target.is_closing():
            raise ConnectionError("UDP transport closed")
        # UDP may lose packets anyway: rather drop than let asyncio buffer without bound.
        buffered: Callable[[], int] = getattr(target, "get_write_buffer_size", lambda: 0)
        if buffered() > self.tap.max_bytes:
            return
        addr = (self.conn.peer_ip, spec.client_ports[1] if rtcp else spec.client_ports[0])
        for packet in packets:
            target.sendto(packet, addr)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sender is not None:
            self.sender.cancel()
            self.sender = None
        self.tap.close()
        for t in (self.udp_rtp, self.udp_rtcp):
            if t is not None:
                t.close()


# --------------------------------------------------------------------------- connection


class _Connection:
    """One RTSP control connection (which also carries interleaved RTP for TCP clients)."""

    def __init__(self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("0.0.0.0", 0)
        self.peer_ip: str = peer[0]
        self.local_ip: str = local[0]
        self.peer = f"{peer[0]}:{peer[1]}"
        self.taps: dict[str, _FeedTap] = {}
        self.sessions: set[_Session] = set()
        self.last_activity = time.monotonic()
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed or self.writer.is_closing():
            raise ConnectionError("connection closed")
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.server.write_timeout)

    def next_channels(self) -> tuple[int, int]:
        used = {c for s in self.sessions if s.transport and s.transport.interleaved for c in s.transport.interleaved}
        n = 0
        while n in used or n + 1 in used:
            n += 2
        return n, n + 1

    def abort(self) -> None:
        if not self.writer.is_closing():
            self.writer.transport.abort()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for session in list(self.sessions):
            self.server._end_session(session, "connection closed")
        for tap in self.taps.values():
            tap.close()
        self.taps.clear()
        if not self.writer.is_closing():
            self.writer.close()


# --------------------------------------------------------------------------- server


class RtspServer:
    """Serves `MediaFeed`s over RTSP; see the module docstring for the design.

    `resolve` maps a request path (``"cam1"`` for ``rtsp://host:port/cam1``) to a feed or
    None (404). It is called on the server's loop thread and must be quick; the feed's
    `subscribe`, `wait_config` and `close` may block and are called on worker threads.

    Keyword options: `config_timeout` (seconds DESCRIBE/SETUP wait for SPS/PPS before 503),
    `session_timeout` (seconds without a request or RTCP before a session ends; a playing
    TCP-interleaved session instead lives as long as its connection), `write_timeout`
    (seconds a TCP client may stall our writes before it is dropped), `queue_frames` and
    `queue_bytes` (per-client queue bounds), `payload_mtu` (largest RTP payload).
    """

    def __init__(
        self,
        resolve: FeedResolver,
        host: str = "0.0.0.0",
        port: int = 8554,
        *,
        config_timeout: float = 10.0,
        session_timeout: int = 60,
        write_timeout: float = 10.0,
        queue_frames: int = 150,
        queue_bytes: int = 16 * 1024 * 1024,
        payload_mtu: int = DEFAULT_PAYLOAD_MTU,
    ) -> None:
        self._resolve = resolve
        self.host = host
        self._requested_port = port
        self.config_timeout = config_timeout
        self.session_timeout = session_timeout
        self.write_timeout = write_timeout
        self.queue_frames = queue_frames
        self.queue_bytes = queue_bytes
        self.payload_mtu = payload_mtu
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()  # guards _sessions for session_count() from other threads
        self._shutting_down = False
        self._late_closes: list[Subscription] = []
        self._pending_closes: dict[Future[None], Subscription] = {}
        self._state_lock = threading.Lock()  # serialises start() and stop()

    # ----------------------------------------------------------------- public API

    @property
    def port(self) -> int:
        """The port actually listened on (resolved after start() when created with port=0)."""
        return self._port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL a client on `host`'s side would use for `path`."""
        host_part = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"rtsp://{host_part}:{self._port}/{path.lstrip('/')}"

    def session_count(self, path: str | None = None) -> int:
        """Active client sessions, in all or for one path."""
        with self._lock:
            sessions = list(self._sessions.values())
        if path is None:
            return len(sessions)
        wanted = request_path(path)
        return sum(1 for s in sessions if s.path == wanted)

    def start(self) -> None:
        """Start listening; returns once the socket is bound. Raises OSError if it cannot."""
        with self._state_lock:
            if self._thread is not None:
                return
            self._shutting_down = False
            self._late_closes = []
            ready = threading.Event()
            failure: list[BaseException] = []
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rtsp-blocking")

            def run() -> None:
                asyncio.set_event_loop(loop)
                try:
                    loop.run_until_complete(self._listen())
                except BaseException as exc:  # handed to start() below
                    failure.append(exc)
                    ready.set()
                    loop.close()
                    return
                ready.set()
                loop.create_task(self._reaper())
                try:
                    loop.run_forever()
                finally:
                    loop.close()

            thread = threading.Thread(target=run, name=f"rtsp-server-{self._requested_port}", daemon=True)
            thread.start()
            ready.wait()
            if failure:
                thread.join()
                self._loop = None
                self._executor.shutdown(wait=False)
                self._executor = None
                exc = failure[0]
                if isinstance(exc, OSError):
                    raise OSError(
                        exc.errno,
                        f"RTSP server cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}",
                    ) from exc
                raise exc
            self._thread = thread
            logger.info("RTSP server listening on %s:%d", self.host, self._port)

    def stop(self) -> None:
        """Close every connection, session and subscription and free the port; idempotent."""
        with self._state_lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout=10)
            except Exception:  # still stop the loop; log why the clean shutdown failed
                logger.exception("RTSP server shutdown did not finish cleanly")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._thread = None
            self._loop = None
            # Close the subscriptions here, synchronously, so feeds can stop when we return.
            with self._lock:
                queued = list(self._pending_closes.items())
            running = []
            for future, sub in queued:
                if future.cancel():  # not started yet: close it here instead
                    self._late_closes.append(sub)
                else:
                    running.append(future)
            futures_wait(running, timeout=5)
            for sub in self._late_closes:
                self._close_now(sub)
            self._late_closes = []
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            with self._lock:
                self._sessions.clear()
            logger.info("RTSP server on port %d stopped", self._port)

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- internals

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "server not started"
        return self._loop

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connection,
            self.host,
            self._requested_port,
            reuse_address=True,
            limit=_MAX_HEADER_BYTES + _MAX_BODY_BYTES,
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._shutting_down = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
            conn.abort()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=2)

    async def _reaper(self) -> None:
        """Expire sessions and idle connections without sessions."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                sessions = list(self._sessions.values())
            for session in sessions:
                if session.expired(now):
                    logger.info("session %s for %s timed out", session.id, session.path)
                    self._end_session(session, "timed out")
            for conn in list(self._connections):
                # Twice the session timeout: a client may DESCRIBE, think, then SETUP.
                if not conn.sessions and now - conn.last_activity > 2 * self.session_timeout:
                    logger.info("closing idle RTSP connection from %s", conn.peer)
                    conn.close()

    def _close_now(self, sub: Subscription) -> None:
        try:
            sub.close()
        except Exception:
            logger.exception("closing a feed subscription failed")

    def _close_subscription(self, sub: Subscription) -> None:
        """Close a subscription off the loop (feeds may block briefly in close())."""
        if self._shutting_down or self._executor is None:
            self._late_closes.append(sub)
            return
        try:
            future = self._executor.submit(self._close_now, sub)
        except RuntimeError:  # executor already shut down
            self._close_now(sub)
            return
        with self._lock:
            self._pending_closes[future] = sub
        future.add_done_callback(self._forget_close)

    def _forget_close(self, future: Future[None]) -> None:
        with self._lock:
            self._pending_closes.pop(future, None)

    def _end_session(self, session: _Session, why: str) -> None:
        with self._lock:
            known = self._sessions.pop(session.id, None) is not None
        session.conn.sessions.discard(session)
        session.close()
        if known:
            logger.info("session %s for %s ended (%s)", session.id, session.path, why)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        logger.debug("RTSP connection from %s", conn.peer)
        try:
            await self._serve(conn)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("RTSP connection from %s failed", conn.peer)
        finally:
            conn.close()
            self._connections.discard(conn)
            self._handlers.discard(task)
            logger.debug("RTSP connection from %s closed", conn.peer)

    async def _serve(self, conn: _Connection) -> None:
        reader = conn.reader
        while True:
            first = await reader.readexactly(1)
            conn.last_activity = time.monotonic()
            if first == b"$":
                # Interleaved data from the client (RTCP receiver reports): proof of life.
                hdr = await reader.readexactly(3)
                await reader.readexactly(int.from_bytes(hdr[1:3], "big"))
                for s in conn.sessions:
                    s.touch()
                continue
            if first in (b"\r", b"\n"):
                continue  # stray line ends between requests
            try:
                head = first + await reader.readuntil(b"\r\n\r\n")
            except (asyncio.LimitOverrunError, ValueError):
                await self._write(conn, RtspResponse(400), None)
                return
            try:
                request = parse_request(head[:-4])
                length = int(request.headers.get("content-length", "0") or 0)
                if not 0 <= length <= _MAX_BODY_BYTES:
                    raise RtspError(400, "bad Content-Length")
            except (RtspError, ValueError) as exc:
                logger.info("bad RTSP request from %s: %s", conn.peer, exc)
                await self._write(conn, RtspResponse(400), None)
                return
            if length:
                request.body = await reader.readexactly(length)
            response = await self._dispatch(conn, request)
            await self._write(conn, response, request.cseq)
            if response.after is not None:
                response.after()

    async def _write(self, conn: _Connection, response: RtspResponse, cseq: str | None) -> None:
        await conn.send(response.encode(cseq))

    async def _dispatch(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        logger.debug("%s %s from %s", req.method, mask_credentials(req.url), conn.peer)
        if req.cseq is None:
            return RtspResponse(400)
        if req.version != "RTSP/1.0":
            return RtspResponse(505)
        handler = {
            "OPTIONS": self._options,
            "DESCRIBE": self._describe,
            "SETUP": self._setup,
            "PLAY": self._play,
            "PAUSE": self._pause,
            "TEARDOWN": self._teardown,
            "GET_PARAMETER": self._keepalive,
            "SET_PARAMETER": self._keepalive,
        }.get(req.method)
        try:
            if handler is None:
                if req.method in _KNOWN_UNSUPPORTED:
                    return RtspResponse(405, [("Allow", ", ".join(PUBLIC_METHODS))])
                return RtspResponse(501)
            return await handler(conn, req)
        except RtspError as exc:
            if exc.status >= 500 or exc.status == 404:
                logger.info("%s %s from %s: %d %s", req.method, mask_credentials(req.url), conn.peer, exc.status, exc)
            return RtspResponse(exc.status)
        except Exception:
            logger.exception("%s %s failed", req.method, mask_credentials(req.url))
            return RtspResponse(500)

    def _session_for(self, req: RtspRequest) -> _Session:
        sid = req.session_id
        with self._lock:
            session = self._sessions.get(sid) if sid else None
        if session is None:
            raise RtspError(454)
        session.touch()
        return session

    async def _open_tap(self, conn: _Connection, path: str) -> _FeedTap:
        """Subscribe to the feed at `path` and wait (off the loop) for its parameter sets."""
        tap = conn.taps.get(path)
        if tap is not None and not tap.closed and tap.config is not None:
            return tap
        try:
            feed = self._resolve(path)
        except Exception as exc:
            logger.exception("resolving feed path %r failed", path)
            raise RtspError(500) from exc
        if feed is None:
            raise RtspError(404, f"no feed at path {path!r}")
        tap = _FeedTap(self, path, self.queue_frames, self.queue_bytes)
        if len(conn.taps) >= _MAX_PENDING_TAPS:
            oldest = next(iter(conn.taps))
            conn.taps.pop(oldest).close()
        conn.taps[path] = tap  # registered before awaiting, so a dropped connection closes it
        try:
            # Both calls may block (a feed might connect upstream first): keep them off the loop.
            loop = asyncio.get_running_loop()
            config = await loop.run_in_executor(self._executor, tap.attach, feed, self.config_timeout)
        except BaseException:
            conn.taps.pop(path, None)
            tap.close()
            raise
        if tap.closed:
            raise ConnectionError("connection closed while waiting for the feed")
        if config is None:
            conn.taps.pop(path, None)
            tap.close()
            raise RtspError(503, f"feed {path!r} has no codec configuration yet")
        tap.config = config
        return tap

    async def _options(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        if req.session_id:
            self._session_for(req)
        return RtspResponse(200, [("Public", ", ".join(PUBLIC_METHODS))])

    async def _describe(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        path = request_path(req.url)
        tap = await self._open_tap(conn, path)
        assert tap.config is not None
        sdp = build_sdp(tap.config, session_id=secrets.randbits(31), server_address=conn.local_ip)
        return RtspResponse(
            200,
            [("Content-Base", base_url(req.url)), ("Content-Type", "application/sdp")],
            sdp.encode("ascii"),
        )

    async def _setup(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        spec = parse_transport(req.headers.get("transport", ""))
        existing: _Session | None = self._session_for(req) if req.session_id else None
        if spec is None:
            raise RtspError(461)
        if existing is not None:
            if existing.playing:
                raise RtspError(455)
            if existing.path != request_path(req.url):
                raise RtspError(459)
            session = existing
        else:
            path = request_path(req.url)
            tap = await self._open_tap(conn, path)
            conn.taps.pop(path, None)  # the session owns the subscription from now on
            session = _Session(self, conn, tap, strip_credentials(req.url))
        if spec.protocol == "tcp":
            assert spec.interleaved is not None
            if existing is None and spec.interleaved in (s.transport.interleaved for s in conn.sessions if s.transport):
                spec = TransportSpec("tcp", interleaved=conn.next_channels())
            session.transport = spec
        else:
            try:
                await session.setup_udp(spec)
            except RtspError:
                if existing is None:
                    session.close()
                raise
        if existing is None:
            with self._lock:
                self._sessions[session.id] = session
            conn.sessions.add(session)
            logger.info("session %s for %s from %s (%s)", session.id, session.path, conn.peer, spec.protocol.upper())
        return RtspResponse(
            200,
            [
                ("Transport", session.transport_header()),
                ("Session", f"{session.id};timeout={self.session_timeout}"),
            ],
        )

    async def _play(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(req)
        if session.transport is None:
            raise RtspError(455)
        rtptime = session.rtp_base if session.first_pts is None else session.rtp_timestamp(session.last_pts)
        headers = [
            ("Range", "npt=0.000-"),
            ("Session", f"{session.id};timeout={self.session_timeout}"),
            ("RTP-Info", f"url={session.control_url};seq={session.packetizer.seq};rtptime={rtptime}"),
        ]
        return RtspResponse(200, headers, after=session.start)

    async def _pause(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(req)
        session.pause()
        return RtspResponse(200, [("Session", f"{session.id};timeout={self.session_timeout}")])

    async def _teardown(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(req)
        self._end_session(session, "TEARDOWN")
        return RtspResponse(200)

    async def _keepalive(self, conn: _Connection, req: RtspRequest) -> RtspResponse:
        headers: list[tuple[str, str]] = []
        if req.session_id:
            session = self._session_for(req)
            headers.append(("Session", f"{session.id};timeout={self.session_timeout}"))
        else:
            for session in conn.sessions:
                session.touch()
        return RtspResponse(200, headers)
