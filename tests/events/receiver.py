"""A real HTTP webhook receiver for the tests: `http.server` in a thread on 127.0.0.1 that
checks every signature and answers with the statuses it is told to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool
    answered: int
    at: float
    path: str = "/hook"


class Receiver:
    def __init__(
        self, secret: str, fail_first: int = 0, fail_status: int = 500, retry_after: str | None = None
    ) -> None:
        self.secret = secret
        self.fail_remaining = fail_first
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = "sha256=" + hmac.new(receiver.secret.encode(), raw, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, self.headers.get("X-Videohub-Signature", ""))
                with receiver._lock:
                    if receiver.fail_remaining > 0:
                        receiver.fail_remaining -= 1
                        status = receiver.fail_status
                    else:
                        status = 200 if ok else 401
                    receiver.requests.append(
                        Received(dict(self.headers), json.loads(raw), ok, status, time.monotonic(), self.path)
                    )
                self.send_response(status)
                if status != 200 and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.answered == 200]

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
