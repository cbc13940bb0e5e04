"""Shared fixtures: real RTSP cameras (the project's own server and simulator) and a real
hub served by uvicorn on a free port. Nothing in the video path is mocked."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from videohub.api.app import create_app
from videohub.config import Config, parse_config
from videohub.rtsp.feed import MediaFeed
from videohub.rtsp.server import RtspServer
from videohub.runtime import HubRuntime
from videohub.simulate.pattern import PatternFeed


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Polls `cond` until it holds or `timeout` passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str) -> str:
    """Path of an external client; in CI its absence is a failure, elsewhere a skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (install Debian's ffmpeg package)")
        pytest.skip(f"{name} not installed (Debian package ffmpeg)")
    return path


class CameraServer:
    """A real RTSP server with simulated cameras, as a city camera would be."""

    def __init__(self, port: int = 0) -> None:
        self.feeds: dict[str, MediaFeed] = {}
        self.server = RtspServer(lambda path: self.feeds.get(path.split("/")[0]), host="127.0.0.1", port=port)
        self.server.start()
        self.port = self.server.port

    def add(self, name: str, width: int = 320, height: int = 240, fps: int = 25) -> PatternFeed:
        feed = PatternFeed(width=width, height=height, fps=fps, name=name)
        self.feeds[name] = feed
        return feed

    def url(self, name: str, credentials: str = "") -> str:
        return f"rtsp://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/{name}"

    def sessions(self, name: str | None = None) -> int:
        return self.server.session_count(name)

    def restart(self) -> None:
        self.server.stop()
        self.server = RtspServer(lambda path: self.feeds.get(path.split("/")[0]), host="127.0.0.1", port=self.port)
        self.server.start()

    def close(self) -> None:
        self.server.stop()
        for feed in self.feeds.values():
            feed.close()  # type: ignore[attr-defined]


@pytest.fixture
def cameras() -> Iterator[CameraServer]:
    server = CameraServer()
    yield server
    server.close()


FAST = {
    "connect_timeout": 3,
    "read_timeout": 2,
    "reconnect_initial": 0.2,
    "reconnect_max": 1,
    "idle_release": 1,
    "snapshot_wait": 8,
}


def hub_config(tmp_path: Path, cameras: list[dict], **sections: Any) -> Config:
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "rtsp_port": 0},
        "database": {"url": f"sqlite:///{tmp_path}/hub.db"},
        "models_dir": None,
        "defaults": FAST,
        "hls": {"segment_seconds": 1, "list_size": 4, "idle_timeout": 3},
        "cameras": cameras,
    }
    data.update(sections)
    return parse_config(data, "test.yaml")


class LiveHub:
    """The hub's runtime behind a real uvicorn server on a free port."""

    def __init__(self, config: Config) -> None:
        self.runtime = HubRuntime(config, "test.yaml")
        self.runtime.start()
        self.port = free_port()
        app = create_app(self.runtime, manage=False)
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server.started, 10, what="uvicorn start")
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.base, timeout=20)

    def stop(self) -> None:
        self.http.close()
        self._server.should_exit = True
        self._thread.join(10)
        self.runtime.stop()


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[Callable[..., LiveHub]]:
    hubs: list[LiveHub] = []

    def start(cameras: list[dict], **sections: Any) -> LiveHub:
        hub = LiveHub(hub_config(tmp_path, cameras, **sections))
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()
