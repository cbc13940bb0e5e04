"""`RuleBook`: the `CameraRules` of every camera, kept in step with the camera registry.

A camera may run several models (people, fire, ...), each delivering its results on its own
schedule. A rule looks at the detections of one of them (`RuleSpec.model`, or the first of the
camera's models that knows one of the rule's labels), so the rules of a camera are grouped by
model, one `CameraRules` (one tracker, one sequence of frames) per group: a fire model's result
is never taken as "no person in this frame" by a person rule.

It listens to the same registry changes as the stream hub but decides on its own: a change
of a camera's rules replaces its rules in place (`CameraRules.replace_rules`), and the
stream hub, which compares only how a camera is pulled, keeps the connection. Whoever turns
incidents into events is the `sink`; it also receives the 'close' of incidents whose rule
was removed or changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from videohub.analytics.rules import CameraRules, IncidentUpdate
from videohub.analytics.spec import RuleSpec
from videohub.config import CameraSpec
from videohub.detect.base import Detection
from videohub.streams.frame import Frame
from videohub.taxonomy import Taxonomy, TaxonomyError

log = logging.getLogger("videohub.analytics")


@dataclass(frozen=True)
class Sighting:
    """What the steps of one analysed frame were seen in: for the evidence snapshot."""

    model: str
    frame: Frame


IncidentSink = Callable[[list[IncidentUpdate], Sighting | None], None]
"""Receives incident steps, with the frame they come from (None for the closes of rules that
were changed or removed). Called with the camera's rules locked, so that steps arrive in the
order they were made: it must be quick and must not call back into the rule book."""
ModelLabels = Callable[[str], Sequence[str] | None]
"""model name -> the labels its detector reports (None: not loaded, unknown)."""


def assign_models(spec: CameraSpec, labels_of: ModelLabels | None = None) -> dict[str, list[RuleSpec]]:
    """The enabled rules of a camera grouped by the model whose detections each looks at."""
    models = spec.detect.models if spec.detect else []
    groups: dict[str, list[RuleSpec]] = {}
    if not spec.enabled or not models:
        return groups
    for rule in spec.rules:
        if not rule.enabled:
            continue
        model = rule.model
        if model is None:
            wanted = set(rule.labels or ())
            knows = [m for m in models if wanted and labels_of and wanted & set(labels_of(m) or ())]
            model = knows[0] if knows else models[0]
        groups.setdefault(model, []).append(rule)
    return groups


def check_rule_codes(taxonomy: Taxonomy, rules: Sequence[RuleSpec], where: str = "rules") -> None:
    """Raises TaxonomyError naming the rule's field when its category or level is not in the code
    tables: a rule that could never raise an event is refused when it is written, not when it fires."""
    for i, rule in enumerate(rules):
        try:
            taxonomy.minor(rule.category_code)
            taxonomy.check_level(rule.level)
        except TaxonomyError as exc:
            raise TaxonomyError(f"{where}[{i}].{exc.field}", exc.message, exc.allowed) from None


class RuleBook:
    def __init__(self, sink: IncidentSink | None = None, labels_of: ModelLabels | None = None) -> None:
        self._sink = sink
        self._labels_of = labels_of
        self._lock = threading.Lock()
        self._rules: dict[tuple[str, str], CameraRules] = {}

    def set_sink(self, sink: IncidentSink | None) -> None:
        self._sink = sink

    def get(self, camera_id: str, model: str) -> CameraRules | None:
        with self._lock:
            return self._rules.get((camera_id, model))

    def models(self, camera_id: str) -> list[str]:
        """The models whose results this camera's rules wait for."""
        with self._lock:
            return sorted(m for c, m in self._rules if c == camera_id)

    def apply(self, spec: CameraSpec | None, camera_id: str) -> None:
        """Starts, changes or drops the rules of one camera (None: the camera is gone)."""
        groups = assign_models(spec, self._labels_of) if spec is not None else {}
        with self._lock:
            current = {m: r for (c, m), r in self._rules.items() if c == camera_id}
            for model, rules in current.items():
                if model not in groups:
                    with rules.emit_lock:  # after the steps of a frame in flight, not before them
                        self._emit(rules.close_all(), None)
                    del self._rules[(camera_id, model)]
            for model, group in groups.items():
                assert spec is not None
                existing = current.get(model)
                if existing is None:
                    self._rules[(camera_id, model)] = CameraRules(camera_id, group, camera_name=spec.name)
                else:
                    existing.camera_name = spec.name
                    with existing.emit_lock:
                        self._emit(existing.replace_rules(group), None)

    def close_all(self) -> None:
        """Closes the open incidents of every camera and drops all rules (the hub stops): an
        incident the hub no longer watches ends with the last frame it saw, instead of its
        event staying open for good (a restarted hub starts with no memory of it)."""
        with self._lock:
            for rules in self._rules.values():
                with rules.emit_lock:
                    self._emit(rules.close_all(), None)
            self._rules.clear()

    def update(self, camera_id: str, model: str, frame: Frame, detections: Sequence[Detection]) -> list[IncidentUpdate]:
        """One analysed frame of a camera, as one model saw it, through the rules that look at
        that model; the steps also go to the sink."""
        rules = self.get(camera_id, model)
        if rules is None:
            return []
        with rules.emit_lock:
            steps = rules.update(frame.ts, detections, (frame.width, frame.height))
            self._emit(steps, Sighting(model, frame))
        return steps

    def _emit(self, steps: list[IncidentUpdate], seen: Sighting | None) -> None:
        if steps and self._sink is not None:
            try:
                self._sink(steps, seen)
            except Exception:
                # A failing sink must not stop the analytics of this or other cameras.
                log.exception("incident sink failed on %d step(s)", len(steps))
