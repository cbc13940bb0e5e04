"""RTP packetisation of H.264 (RFC 6184, packetization-mode=1) and a few RTCP bits.

The packetiser emits single NAL unit packets for NALs that fit the payload MTU and FU-A
fragments for bigger ones (no STAP-A aggregation: SPS/PPS are tiny, but sending them on
their own costs only a few bytes and keeps every client's parser happy). The depacketiser
is the inverse and exists for tests and diagnostics.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from videohub.rtsp.h264 import NAL_FU_A, NAL_STAP_A, nal_type

RTP_VERSION = 2
DEFAULT_PAYLOAD_MTU = 1400  # fits a 1500-byte Ethernet MTU with IP/UDP/RTP headers
CLOCK_RATE = 90_000
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def rtp_header(payload_type: int, seq: int, timestamp: int, ssrc: int, marker: bool) -> bytes:
    """A 12-byte RTP header (no CSRCs, no extension, no padding)."""
    return struct.pack(
        "!BBHII",
        RTP_VERSION << 6,
        (0x80 if marker else 0) | (payload_type & 0x7F),
        seq & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A parsed RTP packet (header fields needed by tests and the depacketiser)."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def parse_rtp(packet: bytes) -> RtpPacket:
    """Parse an RTP packet; raises ValueError for anything that is not RTP version 2."""
    if len(packet) < 12 or packet[0] >> 6 != RTP_VERSION:
        raise ValueError("not an RTP v2 packet")
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(packet) < offset + 4:
            raise ValueError("truncated RTP header extension")
        ext_words = struct.unpack("!H", packet[offset + 2 : offset + 4])[0]
        offset += 4 + 4 * ext_words
    end = len(packet)
    if b0 & 0x20:  # padding; the last byte counts the padding bytes
        end -= packet[-1]
    if offset > end:
        raise ValueError("truncated RTP packet")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), packet[offset:end])


def fragment_nal(nal: bytes, mtu: int = DEFAULT_PAYLOAD_MTU) -> list[bytes]:
    """RTP payloads for one NAL: the NAL itself if it fits, else FU-A fragments."""
    if len(nal) <= mtu:
        return [nal]
    header = nal[0]
    indicator = (header & 0xE0) | NAL_FU_A  # keep F and NRI, type 28
    ntype = header & 0x1F
    body = nal[1:]
    chunk = mtu - 2  # FU indicator + FU header
    payloads: list[bytes] = []
    for pos in range(0, len(body), chunk):
        start = pos == 0
        end = pos + chunk >= len(body)
        fu_header = (0x80 if start else 0) | (0x40 if end else 0) | ntype
        payloads.append(bytes((indicator, fu_header)) + body[pos : pos + chunk])
    return payloads


class H264Packetizer:
    """Turns access units (lists of raw NALs) into RTP packets for one RTP stream.

    Holds the stream's SSRC and sequence counter, plus the packet/octet counts an RTCP
    sender report needs.
    """

    def __init__(self, ssrc: int, seq: int, payload_type: int = 96, mtu: int = DEFAULT_PAYLOAD_MTU) -> None:
        if mtu < 16:
            raise ValueError("payload MTU too small")
        self.ssrc = ssrc & 0xFFFFFFFF
        self.seq = seq & 0xFFFF  # sequence number of the next packet
        self.payload_type = payload_type
        self.mtu = mtu
        self.packet_count = 0
        self.octet_count = 0

    def packetize(self, nals: list[bytes], timestamp: int) -> list[bytes]:
        """RTP packets for one access unit; the marker bit is set on its last packet."""
        payloads = [p for nal in nals if nal for p in fragment_nal(nal, self.mtu)]
        packets: list[bytes] = []
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            header = rtp_header(self.payload_type, self.seq, timestamp, self.ssrc, i == last)
            packets.append(header + payload)
            self.seq = (self.seq + 1) & 0xFFFF
            self.packet_count += 1
            self.octet_count += len(payload)
        return packets


@dataclass
class H264Depacketizer:
    """Reassembles NAL units and access units from RTP packets (single NAL, STAP-A, FU-A).

    Feed packets in order with `push`; it returns the access units (timestamp, NALs) that
    the packet completed: normally the one its marker bit closes, or the previous one when
    a packet with a new timestamp shows that its marker packet was lost. A lost FU-A
    fragment drops that NAL rather than emitting a corrupt one.
    """

    lost: int = 0
    _nals: list[bytes] = field(default_factory=list)
    _fu: bytearray | None = None
    _timestamp: int | None = None
    _last_seq: int | None = None

    def push(self, packet: bytes | RtpPacket) -> list[tuple[int, list[bytes]]]:
        """Add one RTP packet; returns the access units it completed (usually 0 or 1)."""
        pkt = packet if isinstance(packet, RtpPacket) else parse_rtp(bytes(packet))
        done: list[tuple[int, list[bytes]]] = []
        if self._last_seq is not None and pkt.seq != (self._last_seq + 1) & 0xFFFF:
            self.lost += 1
            self._fu = None
        self._last_seq = pkt.seq
        if self._timestamp is not None and pkt.timestamp != self._timestamp and self._nals:
            done.append((self._timestamp, self._nals))
            self._nals = []
            self._fu = None
        self._timestamp = pkt.timestamp
        payload = pkt.payload
        ntype = nal_type(payload)
        if ntype == NAL_FU_A and len(payload) >= 2:
            fu_header = payload[1]
            if fu_header & 0x80:
                self._fu = bytearray(((payload[0] & 0xE0) | (fu_header & 0x1F),))
            if self._fu is not None:
                self._fu += payload[2:]
                if fu_header & 0x40:
                    self._nals.append(bytes(self._fu))
                    self._fu = None
        elif ntype == NAL_STAP_A:
            pos = 1
            while pos + 2 <= len(payload):
                size = int.from_bytes(payload[pos : pos + 2], "big")
                self._nals.append(payload[pos + 2 : pos + 2 + size])
                pos += 2 + size
        elif payload and ntype != NAL_FU_A:
            self._nals.append(payload)
        if pkt.marker and self._nals:
            done.append((pkt.timestamp, self._nals))
            self._nals = []
            self._fu = None
        return done


def ntp_timestamp(unix_time: float | None = None) -> int:
    """64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point)."""
    t = time.time() if unix_time is None else unix_time
    return int((t + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def rtcp_sender_report(
    ssrc: int, ntp: int, rtp_timestamp: int, packet_count: int, octet_count: int, cname: str = "videohub"
) -> bytes:
    """A compound RTCP packet: sender report (no report blocks) followed by SDES CNAME.

    RFC 3550 requires every compound packet to carry an SDES CNAME; FFmpeg uses the SR's
    NTP/RTP pair to map RTP time to wall-clock time.
    """
    sr = struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc & 0xFFFFFFFF,
        ntp >> 32,
        ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )
    name = cname.encode()[:255]
    item = bytes((1, len(name))) + name + b"\x00"  # CNAME item + end-of-list
    item += b"\x00" * (-(4 + len(item)) % 4)  # pad the chunk (SSRC + items) to 32 bits
    sdes_body = struct.pack("!I", ssrc & 0xFFFFFFFF) + item
    sdes = struct.pack("!BBH", 0x81, 202, len(sdes_body) // 4) + sdes_body
    return sr + sdes


def interleave(channel: int, data: bytes) -> bytes:
    """RTSP interleaved framing (RFC 2326 §10.12): '$', channel, 16-bit length, data."""
    return struct.pack("!cBH", b"$", channel, len(data)) + data
