"""RFC 6184 packetisation, RTCP and interleaving: pure functions, no network."""

from __future__ import annotations

import struct

import pytest

from videohub.rtsp.h264 import NAL_FU_A, NAL_IDR, NAL_PPS, NAL_SPS
from videohub.rtsp.rtp import (
    H264Depacketizer,
    H264Packetizer,
    fragment_nal,
    interleave,
    parse_rtp,
    rtcp_sender_report,
    rtp_header,
)

SPS = bytes([0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])


def idr(size: int) -> bytes:
    return bytes([0x65]) + bytes((i * 7 + 3) % 251 + 1 for i in range(size - 1))


def test_rtp_header_fields() -> None:
    header = rtp_header(96, 0x1234, 0xDEADBEEF, 0xCAFEBABE, marker=True)
    assert len(header) == 12
    pkt = parse_rtp(header + b"\x41\x01")
    assert (pkt.payload_type, pkt.seq, pkt.timestamp, pkt.ssrc, pkt.marker) == (
        96,
        0x1234,
        0xDEADBEEF,
        0xCAFEBABE,
        True,
    )
    assert pkt.payload == b"\x41\x01"
    assert header[0] >> 6 == 2  # version 2, no padding/extension/CSRC


def test_small_nals_are_single_nal_unit_packets_with_marker_on_last() -> None:
    pk = H264Packetizer(ssrc=1, seq=65534)
    packets = [parse_rtp(p) for p in pk.packetize([SPS, PPS, idr(500)], timestamp=9000)]
    assert [p.payload for p in packets] == [SPS, PPS, idr(500)]
    assert [p.marker for p in packets] == [False, False, True]
    assert [p.seq for p in packets] == [65534, 65535, 0]  # wraps around
    assert {p.timestamp for p in packets} == {9000}
    assert {p.payload_type for p in packets} == {96}
    assert pk.packet_count == 3
    assert pk.octet_count == len(SPS) + len(PPS) + 500


def test_big_nal_is_fragmented_as_fu_a() -> None:
    nal = idr(5000)
    payloads = fragment_nal(nal, mtu=1400)
    assert len(payloads) == 4
    assert all(len(p) <= 1400 for p in payloads)
    for i, payload in enumerate(payloads):
        indicator, header = payload[0], payload[1]
        assert indicator & 0x1F == NAL_FU_A
        assert indicator & 0x60 == nal[0] & 0x60  # NRI kept
        assert header & 0x1F == NAL_IDR
        assert bool(header & 0x80) == (i == 0)  # start bit
        assert bool(header & 0x40) == (i == len(payloads) - 1)  # end bit
    # The fragments carry the NAL body (without its header byte) in order.
    assert b"".join(p[2:] for p in payloads) == nal[1:]


def test_marker_only_on_last_fragment_of_access_unit() -> None:
    pk = H264Packetizer(ssrc=7, seq=100, mtu=1200)
    packets = [parse_rtp(p) for p in pk.packetize([SPS, PPS, idr(4000)], timestamp=1)]
    assert [p.marker for p in packets].count(True) == 1
    assert packets[-1].marker
    assert all(len(p.payload) <= 1200 for p in packets)


def test_exact_mtu_nal_is_not_fragmented() -> None:
    assert fragment_nal(idr(1400), mtu=1400) == [idr(1400)]
    assert len(fragment_nal(idr(1401), mtu=1400)) == 2


def test_reassembly_gives_back_the_nals() -> None:
    pk = H264Packetizer(ssrc=42, seq=500, mtu=1000)
    units = [
        [SPS, PPS, idr(3500)],
        [bytes([0x41]) + bytes(range(1, 200)) * 10],
        [bytes([0x41, 0x9A]) + b"\x07" * 30],
    ]
    depack = H264Depacketizer()
    out = []
    for i, nals in enumerate(units):
        for packet in pk.packetize(nals, timestamp=3000 * i):
            out.extend(depack.push(packet))
    assert out == [(3000 * i, nals) for i, nals in enumerate(units)]
    assert depack.lost == 0


def test_depacketizer_drops_nal_with_lost_fragment() -> None:
    pk = H264Packetizer(ssrc=42, seq=1, mtu=500)
    packets = pk.packetize([PPS, idr(2000)], timestamp=10)
    depack = H264Depacketizer()
    out = []
    for i, packet in enumerate(packets):
        if i == 2:  # lose a middle fragment
            continue
        out.extend(depack.push(packet))
    assert depack.lost == 1
    assert out == [(10, [PPS])]


def test_stap_a_is_understood_by_depacketizer() -> None:
    payload = bytes([0x78]) + struct.pack("!H", len(SPS)) + SPS + struct.pack("!H", len(PPS)) + PPS
    depack = H264Depacketizer()
    assert depack.push(rtp_header(96, 1, 5, 9, True) + payload) == [(5, [SPS, PPS])]


def test_parse_rtp_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_rtp(b"\x00" * 12)
    with pytest.raises(ValueError):
        parse_rtp(b"\x80\x60")


def test_rtcp_sender_report_layout() -> None:
    ntp = (3_900_000_000 << 32) | 0x80000000
    data = rtcp_sender_report(0x01020304, ntp, 123456, packet_count=10, octet_count=9999)
    assert len(data) % 4 == 0
    version, pt, length = data[0] >> 6, data[1], struct.unpack("!H", data[2:4])[0]
    assert (version, pt, length) == (2, 200, 6)
    ssrc, ntp_hi, ntp_lo, rtp_ts, pc, oc = struct.unpack("!IIIIII", data[4:28])
    assert (ssrc, ntp_hi, ntp_lo, rtp_ts, pc, oc) == (0x01020304, 3_900_000_000, 0x80000000, 123456, 10, 9999)
    sdes = data[28:]
    assert sdes[1] == 202  # SDES follows: RFC 3550 compound packet
    assert (struct.unpack("!H", sdes[2:4])[0] + 1) * 4 == len(sdes)


def test_interleave_framing() -> None:
    assert interleave(1, b"abc") == b"$\x01\x00\x03abc"


def test_parameter_set_types_are_what_the_tests_assume() -> None:
    assert SPS[0] & 0x1F == NAL_SPS and PPS[0] & 0x1F == NAL_PPS
