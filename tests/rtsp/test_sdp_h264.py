"""SDP generation, H.264 bitstream helpers and URL handling."""

from __future__ import annotations

import base64

import pytest

from videohub.rtsp.feed import CodecConfig
from videohub.rtsp.h264 import (
    avcc_to_nals,
    join_annexb,
    parse_avcc,
    profile_level_id,
    split_annexb,
    with_parameter_sets,
)
from videohub.rtsp.sdp import build_sdp, decode_sprop, parse_fmtp
from videohub.rtsp.server import parse_transport
from videohub.rtsp.urls import base_url, mask_credentials, request_path, strip_credentials

SPS = bytes([0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9, 0x40, 0x50, 0x05, 0xBB, 0x01])
PPS = bytes([0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0])
IDR = bytes([0x65, 0x88, 0x84, 0x00, 0x33])
AUD = bytes([0x09, 0xF0])


def test_profile_level_id_comes_from_sps() -> None:
    assert profile_level_id(SPS) == "64001F"  # High profile, level 3.1


def test_sdp_describes_one_h264_track() -> None:
    sdp = build_sdp(CodecConfig(SPS, PPS, 1280, 720), session_id=1234, server_address="127.0.0.1")
    lines = sdp.split("\r\n")
    assert lines[0] == "v=0"
    assert sdp.endswith("\r\n")
    assert "o=- 1234 1 IN IP4 127.0.0.1" in lines
    assert "m=video 0 RTP/AVP 96" in lines
    assert "a=rtpmap:96 H264/90000" in lines
    assert "a=control:trackID=0" in lines
    fmtp = parse_fmtp(sdp)
    assert fmtp["packetization-mode"] == "1"
    assert fmtp["profile-level-id"] == "64001F"
    assert decode_sprop(fmtp["sprop-parameter-sets"]) == [SPS, PPS]
    assert fmtp["sprop-parameter-sets"] == f"{base64.b64encode(SPS).decode()},{base64.b64encode(PPS).decode()}"


def test_sdp_with_ipv6_and_hostname_addresses() -> None:
    assert "IN IP6 ::1" in build_sdp(CodecConfig(SPS, PPS), 1, server_address="::1")
    assert "o=- 1 1 IN IP4 0.0.0.0" in build_sdp(CodecConfig(SPS, PPS), 1, server_address="camera.local")


def test_split_annexb_handles_3_and_4_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + IDR + b"\x00\x00"
    assert split_annexb(data) == [SPS, PPS, IDR]
    assert split_annexb(join_annexb([SPS, PPS, IDR])) == [SPS, PPS, IDR]
    assert split_annexb(b"") == []


def test_avcc_conversion() -> None:
    record = bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1]) + len(SPS).to_bytes(2, "big") + SPS
    record += bytes([1]) + len(PPS).to_bytes(2, "big") + PPS
    cfg = parse_avcc(record)
    assert (cfg.sps, cfg.pps, cfg.length_size) == ([SPS], [PPS], 4)
    sample = len(AUD).to_bytes(4, "big") + AUD + len(IDR).to_bytes(4, "big") + IDR
    assert avcc_to_nals(sample, 4) == [AUD, IDR]
    with pytest.raises(ValueError):
        parse_avcc(record[:8])
    with pytest.raises(ValueError):
        avcc_to_nals(b"\x00\x00\x00\x09\x65", 4)


def test_parameter_sets_are_added_to_idr_only_when_missing() -> None:
    assert with_parameter_sets([AUD, IDR], SPS, PPS) == [AUD, SPS, PPS, IDR]
    assert with_parameter_sets([SPS, PPS, IDR], b"\x67x", b"\x68y") == [SPS, PPS, IDR]
    p_slice = bytes([0x41, 0x9A])
    assert with_parameter_sets([p_slice], SPS, PPS) == [p_slice]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("rtsp://127.0.0.1:8554/cam1", "cam1"),
        ("rtsp://127.0.0.1:8554/cam1/", "cam1"),
        ("rtsp://127.0.0.1:8554/cam1/trackID=0", "cam1"),
        ("rtsp://user:pw@127.0.0.1/cam1?token=x", "cam1"),
        ("rtsp://h/city/north/cam7/trackID=1", "city/north/cam7"),
        ("rtsp://h/my%20cam", "my cam"),
        ("/cam1/track1", "cam1"),
        ("rtsp://h:1/", ""),
        ("*", ""),
    ],
)
def test_request_path(url: str, path: str) -> None:
    assert request_path(url) == path


def test_credentials_are_masked_and_stripped() -> None:
    url = "rtsp://admin:s3cret@10.0.0.5:554/cam1"
    assert mask_credentials(url) == "rtsp://***@10.0.0.5:554/cam1"
    assert mask_credentials(f"DESCRIBE {url} RTSP/1.0") == "DESCRIBE rtsp://***@10.0.0.5:554/cam1 RTSP/1.0"
    assert strip_credentials(url) == "rtsp://10.0.0.5:554/cam1"
    assert base_url(url + "/trackID=0?x=1") == "rtsp://10.0.0.5:554/cam1/"


def test_transport_negotiation() -> None:
    tcp = parse_transport("RTP/AVP/TCP;unicast;interleaved=2-3")
    assert tcp is not None and (tcp.protocol, tcp.interleaved) == ("tcp", (2, 3))
    udp = parse_transport("RTP/AVP;unicast;client_port=5000-5001")
    assert udp is not None and (udp.protocol, udp.client_ports) == ("udp", (5000, 5001))
    # The first alternative we can serve wins; multicast and unknown profiles are skipped.
    alt = parse_transport("RTP/AVP;multicast, RTP/SAVP;unicast;client_port=1-2, RTP/AVP/TCP;unicast")
    assert alt is not None and (alt.protocol, alt.interleaved) == ("tcp", (0, 1))
    assert parse_transport("RTP/AVP;multicast;port=5000-5001") is None
    assert parse_transport("") is None
