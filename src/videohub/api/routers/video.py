"""Unified video access: snapshot, MJPEG and HLS for every camera, whatever its source."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from videohub.api.deps import Channel, Runtime
from videohub.api.schemas import ErrorOut
from videohub.detect.draw import draw_detections
from videohub.runtime import HubRuntime
from videohub.streams.channel import CameraChannel
from videohub.streams.frame import Frame

router = APIRouter(prefix="/api/v1/cameras", tags=["video"])

BOUNDARY = "videohubframe"
_SEGMENT = re.compile(r"^seg\d{5}\.ts$")


async def _fresh_frame(channel: CameraChannel) -> Frame | None:
    opts = channel.options
    frame = channel.fresh_frame(opts.snapshot_max_age)
    if frame is not None or channel.health.state == "offline":
        return frame  # an offline camera is retried by its reader; waiting here helps no one
    deadline = time.monotonic() + opts.snapshot_wait
    seq = -1
    while (remaining := deadline - time.monotonic()) > 0:
        frame = await channel.slot.wait_newer_async(seq, remaining)
        if frame is None:
            return None
        if time.time() - frame.ts <= opts.snapshot_max_age:
            return frame
        seq = frame.seq
    return None


Overlay = tuple[Frame | None, Hashable, Callable[[np.ndarray], np.ndarray] | None]


def _overlay(runtime: HubRuntime, camera_id: str, enabled: bool) -> Overlay:
    """The frame the models analysed last, the drawing of every model's newest detections
    on it, and a key naming them so that viewers of the same overlay share one JPEG.

    Boxes are drawn on the analysed frame, not the newest one: at a few analytics frames
    per second, boxes drawn on a later frame would trail everything that moves."""
    if not enabled:
        return None, None, None
    results = runtime.analytics.results(camera_id)
    if not results:
        return None, ("overlay",), None
    frame = max((r.frame for r in results.values()), key=lambda f: f.seq)
    key = ("overlay", *sorted((name, r.seq) for name, r in results.items()))
    detections = [d for r in results.values() for d in r.detections]
    return frame, key, lambda image: draw_detections(image, detections)


def _unavailable(channel: CameraChannel, what: str) -> JSONResponse:
    h = channel.snapshot_health()
    reason = f"no frame newer than {channel.options.snapshot_max_age:g}s from camera {channel.camera_id!r}"
    if not channel.spec.enabled:
        reason = f"camera {channel.camera_id!r} is disabled"
    return JSONResponse(
        status_code=503,
        content={"detail": f"{what} unavailable: {reason}", "state": h.state, "last_error": h.last_error},
    )


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def snapshot(
    channel: Channel,
    runtime: Runtime,
    width: Annotated[int | None, Query(ge=16, le=7680)] = None,
    overlay: Annotated[bool, Query(description="Draw the newest detections.")] = False,
):
    if not channel.spec.enabled:
        return _unavailable(channel, "snapshot")
    with runtime.hub.acquire(channel.camera_id, "frames"):
        frame = await _fresh_frame(channel)
        if frame is None:
            return _unavailable(channel, "snapshot")
        analysed, key, draw = _overlay(runtime, channel.camera_id, overlay)
        frame = analysed or frame
        jpeg = await run_in_threadpool(channel.jpeg.encode, frame, width, channel.options.jpeg_quality, key, draw)
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Frame-Time": f"{frame.ts:.3f}", "X-Frame-Seq": str(frame.seq)},
    )


async def _mjpeg(
    runtime: HubRuntime, channel: CameraChannel, fps: float | None, width: int | None, overlay: bool
) -> AsyncIterator[bytes]:
    # The lease is taken inside the generator so that its `finally` always gives it back,
    # however the client goes away.
    lease = runtime.hub.acquire(channel.camera_id, "frames")
    try:
        seq, sent, interval, next_at = -1, -1, (1.0 / fps if fps else 0.0), 0.0
        while True:
            if interval and (wait := next_at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            frame = await channel.slot.wait_newer_async(seq, 2.0)
            if channel.removed:
                return
            if frame is None:
                continue  # camera silent; keep the connection and wait for it to come back
            seq = frame.seq
            next_at = time.monotonic() + interval
            quality = channel.options.jpeg_quality
            # Most viewers find the frame already encoded; only the first goes to a thread.
            analysed, key, draw = _overlay(runtime, channel.camera_id, overlay)
            if analysed is not None:
                if analysed.seq == sent:
                    continue  # the overlay stream moves at the analytics rate
                frame = analysed
            sent = frame.seq
            jpeg = channel.jpeg.cached(frame, width, quality, key)
            if jpeg is None:
                jpeg = await run_in_threadpool(channel.jpeg.encode, frame, width, quality, key, draw)
            yield (
                (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                    f"X-Frame-Time: {frame.ts:.3f}\r\n\r\n"
                ).encode()
                + jpeg
                + b"\r\n"
            )
    finally:
        lease.release()


@router.get(
    "/{camera_id}/mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}, 404: {"model": ErrorOut}},
)
async def mjpeg(
    channel: Channel,
    runtime: Runtime,
    fps: Annotated[float | None, Query(gt=0, le=60, description="Frames per second at most.")] = None,
    width: Annotated[int | None, Query(ge=16, le=7680, description="Scale down to this width.")] = None,
    overlay: Annotated[bool, Query(description="Draw the newest detections.")] = False,
):
    if not channel.spec.enabled:
        return _unavailable(channel, "MJPEG")
    return StreamingResponse(
        _mjpeg(runtime, channel, fps, width, overlay),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/{camera_id}/hls/index.m3u8",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.apple.mpegurl": {}}},
        404: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
)
async def hls_playlist(channel: Channel, runtime: Runtime):
    if not channel.spec.enabled:
        return _unavailable(channel, "HLS")
    session = runtime.hls.session(channel.camera_id)
    wait = channel.options.connect_timeout + 3 * runtime.config.hls.segment_seconds + 5
    if channel.health.state == "offline" and not session.playlist.exists():
        wait = 0  # the reader is between retries; a player asking again later does better
    playlist = session.read("index.m3u8") if await session.wait_ready(wait) else None
    if playlist is None:
        reason = session.error or f"no HLS segment within {wait:g}s"
        h = channel.snapshot_health()
        return JSONResponse(
            status_code=503,
            content={"detail": f"HLS unavailable: {reason}", "state": h.state, "last_error": h.last_error},
        )
    return Response(playlist, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"})


@router.get(
    "/{camera_id}/hls/{segment}",
    response_class=Response,
    responses={200: {"content": {"video/mp2t": {}}}, 404: {"model": ErrorOut}},
)
async def hls_segment(channel: Channel, segment: str, runtime: Runtime):
    if not _SEGMENT.match(segment):
        raise HTTPException(404, f"no HLS segment {segment!r}")
    session = runtime.hls.existing(channel.camera_id)
    data = session.read(segment) if session else None
    if data is None:
        raise HTTPException(404, f"HLS segment {segment!r} of camera {channel.camera_id!r} is gone or not made yet")
    return Response(data, media_type="video/mp2t")
