"""`HubRuntime`: the running hub, wired from a `Config` — database, camera registry, stream
hub, HLS sessions and the RTSP restream. The API and the CLI both use it, so the same
object runs under `videohub serve`, `videohub demo` and the tests."""

from __future__ import annotations

import logging
import threading

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from videohub.analytics.rulebook import RuleBook, check_rule_codes
from videohub.analytics.sampler import AnalyticsSampler, ModelResult, MotionScore
from videohub.config import Config
from videohub.db import init_db, make_engine
from videohub.detect.models import ModelSet
from videohub.events.cursors import OutboxCursors
from videohub.events.delivery import WebhookWorker
from videohub.events.incidents import IncidentRecorder
from videohub.events.nats_publisher import NatsPublisher
from videohub.events.notify import ChangeNotifier
from videohub.events.service import CameraFacts, EventService
from videohub.events.webhooks import SubscriptionService
from videohub.registry.service import CameraNotFound, CameraRegistry
from videohub.rtsp.feed import MediaFeed
from videohub.rtsp.server import RtspServer
from videohub.secrets import mask_text, mask_url
from videohub.streams.hls import HlsManager
from videohub.streams.hub import StreamHub
from videohub.taxonomy import TaxonomyError, TaxonomyLoadError, load_taxonomy

log = logging.getLogger("videohub")


class StartupError(Exception):
    """The hub cannot start; the message names the setting at fault."""


class HubRuntime:
    def __init__(self, config: Config, config_source: str = "<config>") -> None:
        self.config = config
        # Before the database: a bad table file is refused without touching anything.
        try:
            self.taxonomy = load_taxonomy(config.taxonomy.dir)
        except TaxonomyLoadError as exc:
            raise StartupError(str(exc)) from None
        for i, cam in enumerate(config.cameras):
            try:
                check_rule_codes(self.taxonomy, cam.rules, f"cameras[{i}].rules")
            except TaxonomyError as exc:
                raise StartupError(f"{config_source}: {exc}") from None
        try:
            self.engine = make_engine(config.database.url)
            self.sessions = init_db(self.engine)
        except (ValueError, OSError, SQLAlchemyError, CommandError) as exc:
            # CommandError: a schema revision this hub does not know (a newer hub's database).
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StartupError(f"database.url {mask_url(config.database.url)}: {mask_text(detail)}") from None
        self.registry = CameraRegistry(self.sessions, config.cameras, config_source)
        self.notifier = ChangeNotifier()
        self.events = EventService(self.sessions, self.taxonomy, self.notifier, cameras=self._camera_facts)
        self.subscriptions = SubscriptionService(self.sessions, self.events)
        self.webhooks = WebhookWorker(self.subscriptions, self.notifier, config.webhooks)
        self.nats: NatsPublisher | None = None
        if config.nats.url:
            self.nats = NatsPublisher(self.events, OutboxCursors(self.sessions), self.notifier, config.nats)
        self.hub = StreamHub(config.defaults)
        self.hls = HlsManager(self.hub, config.hls)
        self.models = ModelSet(config.all_models())
        # Detections -> rules -> incidents -> events: the rules run in the engines' threads,
        # the recorder writes the events from its own.
        self.incidents = IncidentRecorder(self.events)
        self.rules = RuleBook(self.incidents.submit, labels_of=self._model_labels)
        self.analytics = AnalyticsSampler(
            self.hub, self.models.engines, motion=_motion_score(), on_result=self._on_analysed
        )
        self.rtsp: RtspServer | None = None
        self._apply_lock = threading.Lock()
        self.registry.subscribe(self._on_camera_change)

    def _on_camera_change(self, camera_id: str, _spec: object) -> None:
        # Notifications of concurrent requests can arrive out of order; applying whatever
        # the registry holds now, one change at a time, always ends in the registry's state.
        with self._apply_lock:
            try:
                spec = self.registry.get(camera_id).spec
            except CameraNotFound:
                self.rules.apply(None, camera_id)
                self.analytics.apply(None, camera_id)
                self.hls.close_camera(camera_id)
                self.hub.remove(camera_id)
                return
            # Rules are no part of how a camera is pulled: hub.apply keeps the connection
            # when only they changed, and the rule book swaps them in place.
            self.rules.apply(spec, camera_id)
            if self.hub.apply(spec):
                # The HLS session was cut from the old stream; the next request starts anew.
                self.hls.close_camera(camera_id)
            self.analytics.apply(spec, camera_id)

    def _model_labels(self, model: str) -> list[str] | None:
        engine = self.models.engines.get(model)
        return list(engine.detector.labels) if engine is not None else None

    def _on_analysed(self, camera_id: str, result: ModelResult) -> None:
        self.rules.update(camera_id, result.model, result.frame, result.detections)

    def _camera_facts(self, camera_id: str) -> CameraFacts | None:
        try:
            spec = self.registry.get(camera_id).spec
        except CameraNotFound:
            return None
        return CameraFacts(device_code=spec.device_code, region_code=spec.region_code, lon=spec.lon, lat=spec.lat)

    def _resolve(self, path: str) -> MediaFeed | None:
        return self.hub.feed(path.strip("/").split("/")[0])

    def start(self) -> None:
        self.webhooks.start()
        if self.nats is not None:
            self.nats.start()
        for cam in self.registry.all():
            if cam.origin == "api":
                # Checked when written, but the code tables may have been replaced since: such a
                # rule still runs, and each of its incidents would be refused, so say so now.
                try:
                    check_rule_codes(self.taxonomy, cam.spec.rules)
                except TaxonomyError as exc:
                    log.error("camera %s: %s; its events will be refused until the rule is fixed", cam.spec.id, exc)
            self.hub.apply(cam.spec)
            self.rules.apply(cam.spec, cam.spec.id)
            self.analytics.apply(cam.spec, cam.spec.id)
        port = self.config.server.rtsp_port
        if port is not None:
            self.rtsp = RtspServer(self._resolve, host=self.config.server.host, port=port)
            try:
                self.rtsp.start()
            except OSError as exc:
                self.rtsp = None
                raise StartupError(f"server.rtsp_port {port}: {exc}") from None
        log.info("hub started: %d cameras", len(self.registry.all()))

    def rtsp_url(self, camera_id: str) -> str | None:
        if self.rtsp is None:
            return None
        return self.rtsp.url(camera_id, host=self.config.server.public_host)

    def stop(self) -> None:
        # First: open event streams end, so a server waiting for its connections can finish.
        self.notifier.close()
        # Then the pushers: attempts in flight finish and are recorded, so none is repeated.
        self.webhooks.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.rtsp is not None:
            self.rtsp.stop()
        self.analytics.stop()
        self.models.stop()
        # No more frames: the open incidents end here (their closes queued before the
        # recorder drains), or their events would stay open across a restart.
        self.rules.close_all()
        self.incidents.stop()
        self.hls.stop()
        self.hub.stop()
        self.engine.dispose()


def _motion_score() -> MotionScore:
    """The motion gate of the built-in motion detector (cheap frame differencing)."""
    from videohub.detect.classic.motion import motion_score

    return motion_score
