"""`RuleBook`: the `CameraRules` of every camera, kept in step with the camera registry.

It listens to the same registry changes as the stream hub but decides on its own: a change
of a camera's rules replaces its rules in place (`CameraRules.replace_rules`), and the
stream hub, which compares only how a camera is pulled, keeps the connection. Whoever
turns incidents into events (the event service wiring) is the `sink`; it also receives the
'close' of incidents whose rule was removed or changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from videohub.analytics.rules import CameraRules, IncidentUpdate
from videohub.config import CameraSpec
from videohub.detect.base import Detection

log = logging.getLogger("videohub.analytics")

IncidentSink = Callable[[list[IncidentUpdate]], None]


class RuleBook:
    def __init__(self, sink: IncidentSink | None = None) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraRules] = {}

    def set_sink(self, sink: IncidentSink | None) -> None:
        self._sink = sink

    def get(self, camera_id: str) -> CameraRules | None:
        with self._lock:
            return self._cameras.get(camera_id)

    def apply(self, spec: CameraSpec | None, camera_id: str) -> None:
        """Starts, changes or drops the rules of one camera (None: the camera is gone)."""
        rules = [r for r in spec.rules if r.enabled] if spec is not None and spec.enabled else []
        with self._lock:
            cam = self._cameras.get(camera_id)
            if not rules:
                self._cameras.pop(camera_id, None)
            elif cam is None:
                assert spec is not None
                self._cameras[camera_id] = CameraRules(camera_id, rules, camera_name=spec.name)
                return
            else:
                assert spec is not None
                cam.camera_name = spec.name
        if cam is not None:
            self._emit(cam.replace_rules(rules))

    def update(
        self, camera_id: str, ts: float, detections: Sequence[Detection], frame_size: tuple[int, int]
    ) -> list[IncidentUpdate]:
        """One analysed frame of a camera through its rules; the steps also go to the sink."""
        cam = self.get(camera_id)
        if cam is None:
            return []
        steps = cam.update(ts, detections, frame_size)
        self._emit(steps)
        return steps

    def _emit(self, steps: list[IncidentUpdate]) -> None:
        if steps and self._sink is not None:
            try:
                self._sink(steps)
            except Exception:
                # A failing sink must not stop the analytics of this or other cameras.
                log.exception("incident sink failed on %d step(s)", len(steps))
