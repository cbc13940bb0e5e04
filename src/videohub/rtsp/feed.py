"""The contract between whatever produces H.264 (a camera pulled by the hub, a simulated
camera) and the RTSP server that serves it to pull clients.

The server knows nothing about cameras: it resolves a request path to a `MediaFeed`,
subscribes once per client session, and turns the access units it is handed into RTP.
Producers know nothing about RTSP: they call every subscriber's sink with whole frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One coded H.264 frame in Annex B form (NAL units each preceded by a start code)."""

    data: bytes
    # Presentation time in seconds, any origin. Increasing in sending order for streams
    # without B-frames (all simulated and most IP cameras); with B-frames it is not.
    pts: float
    keyframe: bool


@dataclass(frozen=True, slots=True)
class CodecConfig:
    """Parameter sets a client needs before the first frame (SDP sprop-parameter-sets)."""

    sps: bytes  # raw NAL unit, no start code
    pps: bytes  # raw NAL unit, no start code
    width: int = 0
    height: int = 0


Sink = Callable[[AccessUnit], None]


class Subscription(Protocol):
    def wait_config(self, timeout: float) -> CodecConfig | None:
        """Block until the feed knows its parameter sets, or `timeout` seconds pass; returns
        None promptly once the subscription is closed."""

    def close(self) -> None:
        """Stop delivering to the sink; idempotent. The producer may stop if nobody is left."""


class MediaFeed(Protocol):
    def subscribe(self, sink: Sink) -> Subscription:
        """Start delivering access units to `sink`, from the producer's own thread.

        The sink may be called at once, before the client has asked to play: the server
        drops what it cannot send yet and starts every client on a key frame. The sink
        must be quick and must not raise. Producers should repeat SPS/PPS in-band at key
        frames, so a mid-stream change reaches clients. `subscribe` itself may block
        (an on-demand camera starts its reader), so servers call it off their event loop.
        """


FeedResolver = Callable[[str], MediaFeed | None]
"""Maps a request path (without the leading slash, e.g. ``"cam1"``) to a feed, or None for 404."""
