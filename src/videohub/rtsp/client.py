"""A minimal blocking RTSP client (RTP over TCP only) for tests and diagnostics.

Real players (FFmpeg, OpenCV) hide the protocol; this one exposes it, so a test can send
a raw DESCRIBE, look at status codes and headers, stall a connection, or count the RTP
packets that arrive. Every read has a timeout: nothing here can hang a test forever.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from videohub.rtsp.rtp import H264Depacketizer, RtpPacket, parse_rtp


class RtspClientError(Exception):
    """A protocol-level failure (bad reply, unexpected close)."""


@dataclass
class RtspReply:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class RawRtspClient:
    """One RTSP control connection; RTP/RTCP for TCP sessions arrives on the same socket."""

    url: str
    timeout: float = 5.0
    user_agent: str = "videohub-test-client"
    session: str | None = None
    content_base: str | None = None
    _sock: socket.socket | None = None
    _buf: bytearray = field(default_factory=bytearray)
    _cseq: int = 0
    _packets: list[tuple[int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 554
        self._sock = socket.create_connection((host, port), timeout=self.timeout)

    # ---------------------------------------------------------------- low level

    @property
    def sock(self) -> socket.socket:
        if self._sock is None:
            raise RtspClientError("client is closed")
        return self._sock

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("RTSP read timed out")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectionError(f"connection failed: {exc}") from exc
        if not data:
            raise ConnectionError("server closed the connection")
        self._buf += data

    def _next_item(self, deadline: float) -> tuple[int, bytes] | RtspReply:
        """The next interleaved packet (channel, data) or RTSP reply on the connection."""
        while True:
            if self._buf[:1] == b"$":
                if len(self._buf) >= 4:
                    size = int.from_bytes(self._buf[2:4], "big")
                    if len(self._buf) >= 4 + size:
                        channel = self._buf[1]
                        data = bytes(self._buf[4 : 4 + size])
                        del self._buf[: 4 + size]
                        return channel, data
            elif self._buf:
                end = self._buf.find(b"\r\n\r\n")
                if end >= 0:
                    reply = self._parse_head(bytes(self._buf[:end]))
                    length = int(reply.headers.get("content-length", "0") or 0)
                    if len(self._buf) >= end + 4 + length:
                        reply.body = bytes(self._buf[end + 4 : end + 4 + length])
                        del self._buf[: end + 4 + length]
                        return reply
            self._fill(deadline)

    @staticmethod
    def _parse_head(head: bytes) -> RtspReply:
        lines = head.decode("utf-8", "replace").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("RTSP/"):
            raise RtspClientError(f"not an RTSP reply: {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return RtspReply(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self, method: str, url: str | None = None, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> RtspReply:
        """Send one request and wait for its reply (RTP arriving meanwhile is kept)."""
        self._cseq += 1
        lines = [f"{method} {url or self.url} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {self.user_agent}"]
        if self.session and not (headers and "Session" in headers):
            lines.append(f"Session: {self.session}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        deadline = time.monotonic() + self.timeout
        while True:
            item = self._next_item(deadline)
            if isinstance(item, RtspReply):
                if item.header("cseq") not in ("", str(self._cseq)):
                    continue  # a late reply to an earlier request
                return item
            self._packets.append(item)

    # ---------------------------------------------------------------- RTSP steps

    def describe(self) -> str:
        reply = self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        if reply.status != 200:
            raise RtspClientError(f"DESCRIBE failed: {reply.status} {reply.reason}")
        self.content_base = reply.header("content-base") or self.url.rstrip("/") + "/"
        return reply.body.decode()

    def setup(self, transport: str = "RTP/AVP/TCP;unicast;interleaved=0-1", url: str | None = None) -> RtspReply:
        base = self.content_base or self.url.rstrip("/") + "/"
        reply = self.request("SETUP", url or base + "trackID=0", headers={"Transport": transport})
        if reply.status == 200:
            self.session = reply.header("session").split(";", 1)[0]
        return reply

    def play(self) -> RtspReply:
        return self.request("PLAY", self.content_base or self.url, headers={"Range": "npt=0.000-"})

    def teardown(self) -> RtspReply:
        reply = self.request("TEARDOWN", self.content_base or self.url)
        self.session = None
        return reply

    def start(self) -> str:
        """DESCRIBE + SETUP (TCP) + PLAY; returns the SDP."""
        sdp = self.describe()
        for step in (self.setup, self.play):
            reply = step()
            if reply.status != 200:
                raise RtspClientError(f"{step.__name__.upper()} failed: {reply.status} {reply.reason}")
        return sdp

    # ---------------------------------------------------------------- media

    def read_packet(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The next interleaved (channel, data), or None if nothing came within `timeout`."""
        if self._packets:
            return self._packets.pop(0)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                item = self._next_item(deadline)
            except TimeoutError:
                return None
            if not isinstance(item, RtspReply):
                return item

    def read_rtp(self, timeout: float | None = None, channel: int = 0) -> RtpPacket | None:
        """The next RTP packet on `channel` (RTCP on other channels is skipped)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            item = self.read_packet(max(0.0, deadline - time.monotonic()))
            if item is None:
                return None
            if item[0] == channel:
                return parse_rtp(item[1])

    def read_access_units(self, count: int, timeout: float | None = None) -> list[tuple[int, list[bytes]]]:
        """Reassemble up to `count` access units (RTP timestamp, NALs) within `timeout`."""
        depack = H264Depacketizer()
        out: list[tuple[int, list[bytes]]] = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(out) < count:
            pkt = self.read_rtp(max(0.0, deadline - time.monotonic()))
            if pkt is None:
                break
            out.extend(depack.push(pkt))
        return out[:count]

    def close(self) -> None:
        """Drop the connection without TEARDOWN (what a crashing client does)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RawRtspClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
