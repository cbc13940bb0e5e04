"""`AnalyticsSampler`: feeds the detection engines from the cameras.

For every camera with detection enabled it holds one "frames" lease (so an on-demand
camera is pulled while its analytics run), takes the newest frame at the camera's
analytics fps, optionally skips frames without motion, submits the frame to the engine of
each of its models and keeps the newest result per model. One scheduler thread serves
every camera: sampling is a few dictionary operations, the work happens in the engines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from videohub.config import CameraSpec, DetectSettings
from videohub.detect.base import Detection
from videohub.detect.engine import DetectionEngine
from videohub.streams.frame import Frame
from videohub.streams.hub import CameraNotFound, Lease, StreamHub

log = logging.getLogger("videohub.analytics")

MotionScore = Callable[[np.ndarray, str], float]
"""(image, stream key) -> share of changed pixels since the previous call for that key."""


@dataclass(frozen=True)
class ModelResult:
    model: str
    frame_time: float  # when the analysed frame was received (UTC seconds)
    seq: int
    detections: list[Detection]
    done_at: float  # when the model finished
    frame: Frame  # the analysed frame, so overlays draw boxes where the objects were


@dataclass
class _Camera:
    settings: DetectSettings
    lease: Lease
    due: float = 0.0
    last_seq: int = 0
    sampled: int = 0
    gated: int = 0  # frames the motion gate kept from the models
    results: dict[str, ModelResult] = field(default_factory=dict)


ResultListener = Callable[[str, ModelResult], None]
"""(camera id, result) for every analysed frame of every model: the incident rules."""


class AnalyticsSampler:
    """`on_result` hears of every model result, in the engine's thread: it must be quick. A frame
    the motion gate keeps from the models is reported too, with each model's previous detections
    (nothing moved, so what was there is still there): rules measuring time (dwell, persistence,
    the end of an incident) go on in a still scene instead of freezing."""

    def __init__(
        self,
        hub: StreamHub,
        engines: dict[str, DetectionEngine],
        motion: MotionScore | None = None,
        on_result: ResultListener | None = None,
    ) -> None:
        self._hub = hub
        self._engines = engines
        self._motion = motion
        self._on_result_listener = on_result
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="analytics-sampler", daemon=True)
        self._thread.start()

    def apply(self, spec: CameraSpec | None, camera_id: str) -> None:
        """Starts, changes or stops the analytics of one camera."""
        settings = spec.detect if spec is not None and spec.enabled else None
        if settings is not None and not settings.models:
            settings = None
        with self._lock:
            cam = self._cameras.get(camera_id)
            if settings is None:
                self._cameras.pop(camera_id, None)
            elif cam is not None:  # changed settings: same lease, results of kept models stay
                cam.settings = settings
                cam.results = {m: r for m, r in cam.results.items() if m in settings.models}
                cam = None
            else:
                try:
                    lease = self._hub.acquire(camera_id, "frames")
                except CameraNotFound:
                    return
                self._cameras[camera_id] = _Camera(settings, lease)
        if cam is not None:  # stopped: give the camera back and drop its waiting frames
            cam.lease.release()
            for engine in self._engines.values():
                engine.forget(camera_id)
        self._wake.set()

    def results(self, camera_id: str) -> dict[str, ModelResult]:
        cam = self._cameras.get(camera_id)
        return dict(cam.results) if cam else {}

    def settings(self, camera_id: str) -> DetectSettings | None:
        cam = self._cameras.get(camera_id)
        return cam.settings if cam else None

    def counters(self, camera_id: str) -> tuple[int, int]:
        """(frames sampled, frames kept from the models by the motion gate)."""
        cam = self._cameras.get(camera_id)
        return (cam.sampled, cam.gated) if cam else (0, 0)

    def _on_result(
        self, camera_id: str, model: str, labels: list[str] | None
    ) -> Callable[[Frame, list[Detection]], None]:
        def store(frame: Frame, detections: list[Detection]) -> None:
            if labels is not None:
                detections = [d for d in detections if d.label in labels]
            cam = self._cameras.get(camera_id)
            if cam is not None:
                result = ModelResult(model, frame.ts, frame.seq, detections, time.time(), frame)
                cam.results[model] = result
                self._tell(camera_id, result)

        return store

    def _tell(self, camera_id: str, result: ModelResult) -> None:
        if self._on_result_listener is None:
            return
        try:
            self._on_result_listener(camera_id, result)
        except Exception:
            # The listener's failure must not stop the detections of this or other cameras.
            log.exception("result listener failed on camera %s, model %s", camera_id, result.model)

    def _sample(self, camera_id: str, cam: _Camera) -> None:
        frame = cam.lease.channel.slot.latest()
        if frame is None or frame.seq <= cam.last_seq:
            return
        cam.last_seq = frame.seq
        cam.sampled += 1
        settings = cam.settings
        gate = self._motion if settings.motion_gate else None
        if gate is not None and gate(frame.image, camera_id) < settings.motion_threshold:
            cam.gated += 1
            now = time.time()
            for model in settings.models:
                previous = cam.results.get(model)
                if previous is not None:
                    self._tell(camera_id, ModelResult(model, frame.ts, frame.seq, previous.detections, now, frame))
            return
        for model in settings.models:
            engine = self._engines.get(model)
            if engine is not None:
                engine.submit(camera_id, frame, self._on_result(camera_id, model, settings.labels), settings.conf)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            next_due = now + 1.0
            with self._lock:
                cameras = list(self._cameras.items())
            for camera_id, cam in cameras:
                if now >= cam.due:
                    # No catch-up bursts after a stall: the next sample is one period from now.
                    cam.due = max(cam.due + 1.0 / cam.settings.fps, now)
                    try:
                        self._sample(camera_id, cam)
                    except Exception:
                        log.exception("analytics of camera %s failed on a frame", camera_id)
                next_due = min(next_due, cam.due)
            self._wake.wait(max(0.0, next_due - time.monotonic()))
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(2)
        with self._lock:
            cameras, self._cameras = list(self._cameras.values()), {}
        for cam in cameras:
            cam.lease.release()
