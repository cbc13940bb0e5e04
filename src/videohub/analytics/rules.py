"""`CameraRules`: the rules of one camera turning its detections, frame after frame, into
incidents.

One incident raises one event. The lifecycle of every rule is the same whatever its kind:

- the condition must hold in N of the last M analysed frames, and that for T seconds
  (persistence), before an incident opens: one flicker of a detector raises nothing;
- while it holds, the open incident gets an 'update' at most every `update_interval`
  (last seen, count, newer evidence), never a second 'open';
- when it stops holding for `close_after` seconds (so a short gap does not split one
  incident in two) the incident gets one 'close', and the rule raises nothing new for
  `cooldown` seconds.

All time is the analysed frames' own timestamps, never the clock: the same detections give
the same incidents, live or replayed, and tests need no sleeping.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from videohub.analytics.conditions import Condition, Observation, make_condition
from videohub.analytics.spec import RuleSpec
from videohub.analytics.tracker import IouTracker
from videohub.analytics.zones import anchor_points
from videohub.detect.base import Detection

Phase = Literal["open", "update", "close"]


@dataclass(frozen=True)
class IncidentUpdate:
    """One step of one incident, for the event service: 'open' creates the event,
    'update' updates it, 'close' notes its end (the handling status is for people)."""

    rule_id: str
    camera_id: str
    incident_key: str  # the same for every step of one incident, different for each incident
    phase: Phase
    category_code: str
    level: int
    title: str
    detections: list[Detection]  # the objects that made the condition hold, with track ids
    count: int  # objects (presence, count, dwell) or crossings within the window (line)
    started_at: float  # frame time the condition was first seen in the run that opened it
    ts: float  # frame time of this step
    last_seen: float  # last frame time the condition held (for 'close': before the hold-off)

    def evidence(self) -> dict[str, Any]:
        """JSON-ready facts for an event's evidence (the snapshot is drawn by the caller)."""
        return {
            "rule": self.rule_id,
            "incident_key": self.incident_key,
            "phase": self.phase,
            "count": self.count,
            "started_at": self.started_at,
            "last_seen": self.last_seen,
            "detections": [
                {"label": d.label, "score": round(d.score, 4), "box": list(d.box), "track_id": d.track_id}
                for d in self.detections
            ],
        }


@dataclass
class _Incident:
    key: str
    started_at: float
    last_update: float
    last_seen: float
    last: Observation
    lost_since: float | None = None


STALE_GAP_S = 30.0  # a pause longer than this (and than 5 usual frame intervals) restarts persistence


@dataclass
class _RuleState:
    spec: RuleSpec
    condition: Condition
    recent: deque[tuple[float, bool]]  # (ts, held) of the last M analysed frames
    run_start: float | None = None  # when N of M first held, in the current run
    onset: float | None = None  # first frame of that run in which the condition held
    incident: _Incident | None = None
    quiet_until: float = float("-inf")  # end of the cooldown
    last_ts: float | None = None  # the previous frame's time
    interval: float | None = None  # the pause before it: what "usual" is for a gap

    @classmethod
    def new(cls, spec: RuleSpec) -> _RuleState:
        return cls(spec, make_condition(spec), deque(maxlen=spec.effective_persistence().of_frames))


class CameraRules:
    """Thread-safe: analytics results call `update`, the API `replace_rules`."""

    def __init__(
        self,
        camera_id: str,
        rules: Sequence[RuleSpec],
        *,
        camera_name: str | None = None,
        tracker: IouTracker | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.camera_name = camera_name or camera_id
        self.tracker = tracker or IouTracker()
        self._lock = threading.Lock()
        # Held by whoever passes the returned steps on (RuleBook), from making them to handing
        # them over, so that steps made in two threads (an engine's frame, an API change of
        # the rules) leave in the order they were made: never a 'close' before its 'open'.
        self.emit_lock = threading.Lock()
        self._states: dict[str, _RuleState] = {}
        self._last_ts: float | None = None
        self.replace_rules(rules)

    @property
    def rules(self) -> list[RuleSpec]:
        with self._lock:
            return [s.spec for s in self._states.values()]

    def replace_rules(self, rules: Sequence[RuleSpec]) -> list[IncidentUpdate]:
        """Takes a new set of rules at once. A rule whose condition is unchanged keeps its
        state, ongoing incident included (a new title or level shows in its next update);
        the incidents of removed, disabled or re-conditioned rules are closed and returned."""
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique within a camera")
        closed: list[IncidentUpdate] = []
        with self._lock:
            states: dict[str, _RuleState] = {}
            for spec in rules:
                if not spec.enabled:
                    continue
                old = self._states.get(spec.id)
                if old is not None and old.spec.condition() == spec.condition():
                    old.spec = spec
                    states[spec.id] = old
                else:
                    states[spec.id] = _RuleState.new(spec)
            for rule_id, old in self._states.items():
                if states.get(rule_id) is not old and old.incident is not None:
                    ts = self._last_ts if self._last_ts is not None else old.incident.last_seen
                    closed.append(self._step(old, "close", ts, old.incident.last))
            self._states = states
        return closed

    def close_all(self) -> list[IncidentUpdate]:
        """Closes every open incident (the camera or its analytics went away)."""
        return self.replace_rules([])

    def update(self, ts: float, detections: Sequence[Detection], frame_size: tuple[int, int]) -> list[IncidentUpdate]:
        """Takes one analysed frame (all its detections, of every model, at once):
        its time, detections in pixels and (width, height); returns the incident steps it
        caused. A frame older than the last one is ignored."""
        with self._lock:
            if self._last_ts is not None and ts < self._last_ts:
                return []
            self._last_ts = ts
            tracked = self.tracker.update(detections)
            alive = self.tracker.alive_ids
            anchors = anchor_points(tracked, frame_size)
            out: list[IncidentUpdate] = []
            for state in self._states.values():
                obs = state.condition.observe(ts, tracked, anchors, alive)
                step = self._advance(state, ts, obs)
                if step is not None:
                    out.append(step)
            return out

    def _advance(self, state: _RuleState, ts: float, obs: Observation) -> IncidentUpdate | None:
        p = state.spec.effective_persistence()
        if state.last_ts is not None:
            pause = ts - state.last_ts
            if state.interval is not None and pause > max(STALE_GAP_S, 5 * state.interval):
                # The camera (or its analytics) was away: frames from before the gap say nothing
                # about now, so persistence starts over instead of dating an incident back past it.
                state.recent.clear()
                state.run_start = state.onset = None
            state.interval = pause
        state.last_ts = ts
        state.recent.append((ts, obs.holds))
        held = sum(h for _, h in state.recent) >= p.frames
        if held and state.run_start is None:
            state.run_start = ts
            state.onset = next(t for t, h in state.recent if h)
        elif not held:
            state.run_start = state.onset = None
        inc = state.incident
        if inc is not None:
            if held:
                inc.lost_since = None
                if obs.holds:  # evidence and last sighting from frames that show it, not from gaps
                    inc.last, inc.last_seen = obs, ts
                if ts - inc.last_update >= state.spec.update_interval:
                    inc.last_update = ts
                    return self._step(state, "update", ts, inc.last)
                return None
            if inc.lost_since is None:
                inc.lost_since = ts
            if ts - inc.lost_since >= state.spec.close_after:
                return self._step(state, "close", ts, inc.last)
            return None
        sustained = held and state.run_start is not None and ts - state.run_start >= p.seconds
        if sustained and ts >= state.quiet_until and obs.holds:
            onset = state.onset if state.onset is not None else ts
            key = f"{self.camera_id}/{state.spec.id}/{round(onset * 1000)}"
            state.incident = _Incident(key, onset, ts, ts, obs)
            return self._step(state, "open", ts, obs)
        return None

    def _step(self, state: _RuleState, phase: Phase, ts: float, obs: Observation) -> IncidentUpdate:
        inc = state.incident
        assert inc is not None
        spec = state.spec
        if phase == "close":
            state.incident = None
            state.quiet_until = ts + spec.cooldown
        title = spec.title.format(
            camera=self.camera_name,
            rule=spec.id,
            count=obs.count,
            label=obs.label or (spec.labels[0] if spec.labels else "object"),
            zone=spec.zone_name or spec.id,
            dwell=int(obs.dwell),
        )
        return IncidentUpdate(
            rule_id=spec.id,
            camera_id=self.camera_id,
            incident_key=inc.key,
            phase=phase,
            category_code=spec.category_code,
            level=spec.level,
            title=title,
            detections=list(obs.detections),
            count=obs.count,
            started_at=inc.started_at,
            ts=ts,
            last_seen=inc.last_seen,
        )
