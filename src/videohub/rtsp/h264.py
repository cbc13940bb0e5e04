"""Small H.264 bitstream helpers: Annex B splitting, NAL types, AVCC conversion.

Only what the RTSP server and the simulated cameras need; nothing here decodes video.
"""

from __future__ import annotations

from dataclasses import dataclass

from videohub.rtsp.feed import CodecConfig

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_STAP_A = 24
NAL_FU_A = 28

START_CODE = b"\x00\x00\x00\x01"


def nal_type(nal: bytes) -> int:
    """The nal_unit_type of a raw NAL unit (no start code)."""
    return nal[0] & 0x1F if nal else 0


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into raw NAL units (start codes removed).

    Trailing zero bytes of a NAL are dropped: they belong to the next 4-byte start code
    (or are trailing_zero_8bits), and a real NAL never ends in 0x00 because its RBSP
    stop bit sits in the last byte. Data before the first start code is ignored.
    """
    nals: list[bytes] = []
    n = len(data)
    pos = data.find(b"\x00\x00\x01")
    while pos != -1:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = n if nxt == -1 else nxt
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
        pos = nxt
    return nals


def join_annexb(nals: list[bytes]) -> bytes:
    """Build an Annex B access unit from raw NAL units (4-byte start codes)."""
    return b"".join(START_CODE + nal for nal in nals)


def profile_level_id(sps: bytes) -> str:
    """The SDP profile-level-id: profile_idc, constraint flags and level_idc as 6 hex digits."""
    if len(sps) < 4:
        raise ValueError("SPS too short to hold profile and level")
    return sps[1:4].hex().upper()


@dataclass(frozen=True, slots=True)
class AvccConfig:
    """The parameter sets and NAL length size of an ``avcC`` (ISO/IEC 14496-15) record."""

    sps: list[bytes]
    pps: list[bytes]
    length_size: int


def parse_avcc(extradata: bytes) -> AvccConfig:
    """Parse MP4/MKV ``avcC`` extradata (AVCDecoderConfigurationRecord)."""
    if len(extradata) < 7 or extradata[0] != 1:
        raise ValueError("not an avcC record")
    length_size = (extradata[4] & 0x03) + 1
    pos = 5
    sps: list[bytes] = []
    pps: list[bytes] = []
    try:
        count = extradata[pos] & 0x1F
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            sps.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
        count = extradata[pos]
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            pps.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
    except IndexError as exc:
        raise ValueError("truncated avcC record") from exc
    if any(len(p) == 0 for p in sps + pps) or pos > len(extradata):
        raise ValueError("truncated avcC record")
    return AvccConfig(sps=sps, pps=pps, length_size=length_size)


def avcc_to_nals(data: bytes, length_size: int = 4) -> list[bytes]:
    """Split a length-prefixed (MP4 style) sample into raw NAL units."""
    nals: list[bytes] = []
    pos = 0
    n = len(data)
    while pos + length_size <= n:
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0:
            continue
        if pos + size > n:
            raise ValueError("NAL length runs past the end of the sample")
        nals.append(data[pos : pos + size])
        pos += size
    return nals


def find_parameter_sets(nals: list[bytes]) -> tuple[bytes | None, bytes | None]:
    """The first SPS and PPS among `nals`, or None for each one missing."""
    sps = next((n for n in nals if nal_type(n) == NAL_SPS), None)
    pps = next((n for n in nals if nal_type(n) == NAL_PPS), None)
    return sps, pps


def with_parameter_sets(nals: list[bytes], sps: bytes, pps: bytes) -> list[bytes]:
    """Put SPS/PPS in front of an IDR access unit that lacks them in-band.

    A client that joins at this key frame (or lost the SDP) can then decode without
    the out-of-band sprop-parameter-sets; in-band sets already present are kept as they are.
    """
    types = {nal_type(n) for n in nals}
    if NAL_IDR not in types or (NAL_SPS in types and NAL_PPS in types):
        return nals
    # Keep an AUD (if any) first, as H.264 requires it to lead the access unit.
    head = [n for n in nals if nal_type(n) == NAL_AUD]
    rest = [n for n in nals if nal_type(n) not in (NAL_AUD, NAL_SPS, NAL_PPS)]
    return head + [sps, pps] + rest


def annexb_config(data: bytes) -> CodecConfig | None:
    """The parameter sets in Annex B data (FFmpeg extradata or a key frame), or None."""
    sps, pps = find_parameter_sets(split_annexb(data))
    return CodecConfig(sps, pps) if sps and pps else None


def avcc_config(extradata: bytes) -> CodecConfig | None:
    """The first SPS and PPS of an avcC record (MP4, RTMP), or None if it holds none."""
    try:
        avcc = parse_avcc(extradata)
    except ValueError:
        return None
    return CodecConfig(avcc.sps[0], avcc.pps[0]) if avcc.sps and avcc.pps else None
