"""`HubRuntime`: the running hub, wired from a `Config` — database, camera registry, stream
hub, HLS sessions and the RTSP restream. The API and the CLI both use it, so the same
object runs under `videohub serve`, `videohub demo` and the tests."""

from __future__ import annotations

import logging

from videohub.config import Config
from videohub.db import init_db, make_engine
from videohub.registry.service import CameraRegistry
from videohub.rtsp.feed import MediaFeed
from videohub.rtsp.server import RtspServer
from videohub.streams.hls import HlsManager
from videohub.streams.hub import StreamHub

log = logging.getLogger("videohub")


class HubRuntime:
    def __init__(self, config: Config, config_source: str = "<config>") -> None:
        self.config = config
        self.engine = make_engine(config.database.url)
        self.sessions = init_db(self.engine)
        self.registry = CameraRegistry(self.sessions, config.cameras, config_source)
        self.hub = StreamHub(config.defaults)
        self.hls = HlsManager(self.hub, config.hls)
        self.rtsp: RtspServer | None = None
        self.registry.subscribe(self._on_camera_change)

    def _on_camera_change(self, camera_id: str, spec: object) -> None:
        # A changed or removed camera's HLS session holds the old stream; let it restart.
        self.hls.close_camera(camera_id)
        self.hub.on_registry_change(camera_id, spec)  # type: ignore[arg-type]

    def _resolve(self, path: str) -> MediaFeed | None:
        return self.hub.feed(path.strip("/").split("/")[0])

    def start(self) -> None:
        for cam in self.registry.all():
            self.hub.apply(cam.spec)
        port = self.config.server.rtsp_port
        if port is not None:
            self.rtsp = RtspServer(self._resolve, host=self.config.server.host, port=port)
            self.rtsp.start()
        log.info("hub started: %d cameras", len(self.registry.all()))

    def rtsp_url(self, camera_id: str) -> str | None:
        if self.rtsp is None:
            return None
        return self.rtsp.url(camera_id, host=self.config.server.public_host)

    def stop(self) -> None:
        if self.rtsp is not None:
            self.rtsp.stop()
        self.hls.stop()
        self.hub.stop()
        self.engine.dispose()
