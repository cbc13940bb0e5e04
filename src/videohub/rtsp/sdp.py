"""SDP (RFC 4566) session descriptions for one H.264 video track (RFC 6184 §8)."""

from __future__ import annotations

import base64
import ipaddress

from videohub.rtsp.feed import CodecConfig
from videohub.rtsp.h264 import profile_level_id

TRACK_CONTROL = "trackID=0"
PAYLOAD_TYPE = 96


def _addr_line(address: str) -> str:
    """`IN IP4 <addr>` / `IN IP6 <addr>`; host names (not allowed there) become 0.0.0.0."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "IN IP4 0.0.0.0"
    return f"IN IP{ip.version} {ip}"


def fmtp(config: CodecConfig) -> str:
    """The `a=fmtp` parameters clients need to decode before the first in-band SPS/PPS."""
    sprop = ",".join(base64.b64encode(p).decode("ascii") for p in (config.sps, config.pps))
    return f"packetization-mode=1;profile-level-id={profile_level_id(config.sps)};sprop-parameter-sets={sprop}"


def build_sdp(
    config: CodecConfig,
    session_id: int,
    server_address: str = "0.0.0.0",
    session_name: str = "videohub",
    control: str = TRACK_CONTROL,
) -> str:
    """SDP for DESCRIBE: one live (open-ended) H.264 video track over RTP/AVP.

    `c=` carries 0.0.0.0 because the transport is negotiated per client in SETUP.
    """
    lines = [
        "v=0",
        f"o=- {session_id} 1 {_addr_line(server_address)}",
        f"s={session_name}",
        f"c={_addr_line('0.0.0.0')}",
        "t=0 0",
        "a=tool:videohub",
        "a=range:npt=0-",
        "a=control:*",
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
        f"a=rtpmap:{PAYLOAD_TYPE} H264/90000",
        f"a=fmtp:{PAYLOAD_TYPE} {fmtp(config)}",
    ]
    if config.width > 0 and config.height > 0:
        # Not standard SDP, but widely understood and handy for humans reading the SDP.
        lines.append(f"a=x-dimensions:{config.width},{config.height}")
    lines.append(f"a=control:{control}")
    return "\r\n".join(lines) + "\r\n"


def parse_fmtp(sdp: str) -> dict[str, str]:
    """The key=value parameters of the first `a=fmtp:` line (for tests and diagnostics)."""
    for line in sdp.splitlines():
        if line.startswith("a=fmtp:"):
            _, _, params = line.partition(" ")
            out: dict[str, str] = {}
            for item in params.split(";"):
                key, sep, value = item.strip().partition("=")
                if sep:
                    out[key] = value
            return out
    return {}


def decode_sprop(value: str) -> list[bytes]:
    """Decode a sprop-parameter-sets value into raw NAL units."""
    return [base64.b64decode(part) for part in value.split(",") if part]
