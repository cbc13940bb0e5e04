"""What each kind of rule sees in one analysed frame: whether its condition holds, and
the objects and count behind it. Time-keeping across frames (persistence, hold-off,
cooldown) is the same for every kind and lives in `rules.py`."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from videohub.analytics.spec import RuleSpec
from videohub.analytics.zones import LineCounter, PolygonZone
from videohub.detect.base import Detection


@dataclass(frozen=True)
class Observation:
    holds: bool
    count: int  # objects present / dwelling, or crossings within the window
    detections: list[Detection] = field(default_factory=list)  # the objects behind it
    dwell: float = 0.0  # longest dwell in seconds (dwell rules)

    @property
    def label(self) -> str:
        """The most common label among the objects, for titles."""
        labels = Counter(d.label for d in self.detections)
        return labels.most_common(1)[0][0] if labels else ""


class Condition:
    """Selects a rule's detections (labels, score, zone) and judges one frame."""

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.zone = PolygonZone(spec.zone) if spec.zone is not None else None
        self._labels = frozenset(spec.labels) if spec.labels is not None else None

    def select(self, detections: Sequence[Detection], anchors: np.ndarray) -> list[int]:
        """Indices of the detections this rule looks at and whose anchor is in its zone."""
        keep = np.fromiter(
            (d.score >= self.spec.min_score and (self._labels is None or d.label in self._labels) for d in detections),
            dtype=bool,
            count=len(detections),
        )
        if self.zone is not None and keep.any():
            keep &= self.zone.contains(anchors)
        return [int(i) for i in np.flatnonzero(keep)]

    def observe(self, ts: float, detections: Sequence[Detection], anchors: np.ndarray, alive: set[int]) -> Observation:
        chosen = [detections[i] for i in self.select(detections, anchors)]
        return Observation(len(chosen) >= self.spec.min_count, len(chosen), chosen)


class DwellCondition(Condition):
    """One tracked object in the zone for dwell_seconds. A track that misses a few frames
    (but is still alive in the tracker) or scores below min_score in some keeps its time;
    leaving the zone or being lost starts it anew."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        assert spec.dwell_seconds is not None  # RuleSpec requires it for dwell
        self.dwell_seconds = spec.dwell_seconds
        self._entered: dict[int, float] = {}

    def observe(self, ts: float, detections: Sequence[Detection], anchors: np.ndarray, alive: set[int]) -> Observation:
        inside = set(self.select(detections, anchors))
        # Only a position outside the zone ends a stay: a detection below min_score inside
        # it is a weak sighting (like a missed frame), not the object leaving.
        outside = ~self.zone.contains(anchors) if self.zone is not None else np.zeros(len(detections), dtype=bool)
        here: list[Detection] = []
        for i, d in enumerate(detections):
            if d.track_id is None:
                continue  # an untracked object cannot be followed over time
            if i in inside:
                self._entered.setdefault(d.track_id, ts)
                here.append(d)
            elif outside[i] and (self._labels is None or d.label in self._labels):
                self._entered.pop(d.track_id, None)  # seen outside the zone
        for tid in [t for t in self._entered if t not in alive]:
            del self._entered[tid]
        dwelling = [d for d in here if d.track_id is not None and ts - self._entered[d.track_id] >= self.dwell_seconds]
        longest = max((ts - self._entered[d.track_id] for d in here if d.track_id is not None), default=0.0)
        return Observation(len(dwelling) >= self.spec.min_count, len(dwelling), dwelling, longest)


class LineCondition(Condition):
    """At least min_count crossings in the rule's direction within the last `window`
    seconds."""

    def __init__(self, spec: RuleSpec) -> None:
        super().__init__(spec)
        assert spec.line is not None  # RuleSpec requires it for line
        self.counter = LineCounter(spec.line.start, spec.line.end, spec.line.direction)
        self._crossings: deque[tuple[float, Detection]] = deque()

    def observe(self, ts: float, detections: Sequence[Detection], anchors: np.ndarray, alive: set[int]) -> Observation:
        chosen = [i for i in self.select(detections, anchors) if detections[i].track_id is not None]
        ids = [detections[i].track_id for i in chosen]
        by_id = {detections[i].track_id: detections[i] for i in chosen}
        for tid, _way in self.counter.update([t for t in ids if t is not None], anchors[chosen]):
            self._crossings.append((ts, by_id[tid]))
        self.counter.forget(alive)
        while self._crossings and ts - self._crossings[0][0] > self.spec.window:
            self._crossings.popleft()
        n = len(self._crossings)
        return Observation(n >= self.spec.min_count, n, [d for _, d in self._crossings])


def make_condition(spec: RuleSpec) -> Condition:
    if spec.kind == "dwell":
        return DwellCondition(spec)
    if spec.kind == "line":
        return LineCondition(spec)
    return Condition(spec)
