"""A cap on request bodies: 413 naming the limit, before the body is read into memory.

Every JSON body is parsed whole (a batch of events with base64 snapshots can be hundreds of
megabytes), so an oversized request must be refused at the door, not after it filled the
hub's memory. A declared Content-Length over the limit is answered at once; a chunked body is
counted as it arrives and cut off when it passes the limit.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware (no BaseHTTPMiddleware: streaming responses such as MJPEG and SSE
    pass through untouched)."""

    def __init__(self, app: ASGIApp, max_mb: float) -> None:
        self.app = app
        self.max_mb = max_mb
        self.max_bytes = int(max_mb * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now: the framework turns an error while reading the body into its
                    # own 400, which the send below then drops.
                    refused = True
                    await self._refuse(send)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request body larger than {self.max_mb:g} MiB (server.max_request_mb)"
        body = json.dumps({"detail": detail}).encode()
        headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
