"""The little of H.264's byte formats the hub needs: finding NAL units and parameter sets."""

from __future__ import annotations

import re

from videohub.rtsp.feed import CodecConfig

_START = re.compile(b"\x00\x00\x01")


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte string (3- or 4-byte start codes), without start codes."""
    starts = [m.end() for m in _START.finditer(data)]
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00") if i + 1 < len(starts) else data[start:end]
        if nal:
            nals.append(nal)
    return nals


def annexb_config(data: bytes) -> CodecConfig | None:
    """SPS and PPS found in Annex B data (extradata or a key frame), or None."""
    sps = pps = None
    for nal in split_annexb(data):
        kind = nal[0] & 0x1F
        if kind == 7 and sps is None:
            sps = nal
        elif kind == 8 and pps is None:
            pps = nal
    return CodecConfig(sps, pps) if sps and pps else None


def avcc_config(extradata: bytes) -> CodecConfig | None:
    """SPS and PPS from an avcC record (ISO/IEC 14496-15), as MP4 and RTMP carry them."""
    try:
        pos = 5
        n_sps = extradata[pos] & 0x1F
        pos += 1
        sps_list = []
        for _ in range(n_sps):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            sps_list.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
        n_pps = extradata[pos]
        pos += 1
        size = int.from_bytes(extradata[pos : pos + 2], "big")
        pps = extradata[pos + 2 : pos + 2 + size]
    except IndexError:
        return None
    return CodecConfig(sps_list[0], pps) if sps_list and n_pps and pps else None
