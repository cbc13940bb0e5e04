"""`RuleSpec`: what an operator writes to turn one camera's detections into incidents.

Rules live under `cameras[].rules` in the YAML config and in the camera API. Geometry is
in normalised image coordinates ([0, 1], origin top-left, y down), so a rule survives a
change of stream resolution or a switch to the sub-stream. Every check that can be made
without the taxonomy is made here, naming the field; whether `category_code` exists is
checked where rules meet the event service.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RuleKind = Literal["presence", "count", "dwell", "line"]
LineDirection = Literal["left_to_right", "right_to_left", "both"]
Point = tuple[float, float]

TITLE_FIELDS = frozenset({"camera", "rule", "count", "label", "zone", "dwell"})
"""Names a title template may use: camera id or name, rule id, number of objects (or of
crossings), their most common label, the zone's name, the longest dwell in seconds."""


_TITLE_SAMPLE_MAX = 1000  # filled with short sample values; events cut titles to 200 anyway


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


def _check_point(p: Point) -> Point:
    if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0):
        raise ValueError(f"point {list(p)} is outside the image: coordinates are normalised to [0, 1]")
    return p


class LineSpec(_Strict):
    """A directed tripwire. Sides are as seen on the image standing on `start` and facing
    `end`: for a line drawn left to right across the picture, the left side is above it
    and the right side below, so `left_to_right` counts objects moving down the image."""

    start: Point = Field(..., description="First end of the line, normalised (x, y) in [0, 1].")
    end: Point = Field(..., description="Second end of the line, normalised (x, y) in [0, 1].")
    direction: LineDirection = Field(
        "both",
        description="Which crossings count: left_to_right, right_to_left (sides as seen from start facing end) "
        "or both.",
    )

    @field_validator("start", "end")
    @classmethod
    def _in_image(cls, p: Point) -> Point:
        return _check_point(p)

    @model_validator(mode="after")
    def _has_length(self) -> LineSpec:
        if self.start == self.end:
            raise ValueError("line start and end are the same point")
        return self


class PersistenceSpec(_Strict):
    """How long a condition must hold before it raises anything, so one flicker of a
    detector raises nothing: true in `frames` of the last `of_frames` analysed frames, and
    that continuously for `seconds`."""

    frames: int = Field(3, ge=1, le=1000, description="N: frames (of the last M) in which the condition held.")
    of_frames: int = Field(5, ge=1, le=1000, description="M: the window of analysed frames N is counted in.")
    seconds: float = Field(
        0.0, ge=0, le=86400, description="T: seconds the N-of-M condition must hold before an incident opens."
    )

    @model_validator(mode="after")
    def _n_of_m(self) -> PersistenceSpec:
        if self.frames > self.of_frames:
            raise ValueError(f"frames ({self.frames}) must not exceed of_frames ({self.of_frames})")
        return self


class RuleSpec(_Strict):
    """One rule of one camera: which detections count, where, for how long, and what
    incident (category, level, title) they raise."""

    id: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Slug, unique within the camera: lowercase letters, digits, '-' and '_'.",
    )
    kind: RuleKind = Field(
        ...,
        description="presence: objects of the labels are there (fire, smoke, intrusion into a zone); "
        "count: at least min_count objects in the zone (crowd; hold it with persistence.seconds); "
        "dwell: one tracked object stays in the zone for dwell_seconds (illegal parking, loitering); "
        "line: tracked objects cross the line in its direction, at least min_count times within window seconds.",
    )
    enabled: bool = Field(True, description="A disabled rule is kept in the config but evaluates nothing.")
    labels: list[str] | None = Field(
        None, min_length=1, description="Detection labels the rule looks at (e.g. [car, truck]); absent: all labels."
    )
    min_score: float = Field(0.0, ge=0, le=1, description="Detections scoring below this are ignored by this rule.")
    zone: list[Point] | None = Field(
        None,
        description="Polygon, at least 3 normalised (x, y) points; an object is in it by the bottom-centre of its "
        "box. Absent: the whole frame.",
    )
    zone_name: str = Field("", max_length=100, description="Name of the zone for titles ({zone}); default: the id.")
    line: LineSpec | None = Field(None, description="The tripwire of a line rule (required by kind line only).")
    min_count: int = Field(
        1,
        ge=1,
        le=100000,
        description="presence/count: objects needed at once; dwell: objects dwelling at once; line: crossings "
        "needed within window.",
    )
    dwell_seconds: float | None = Field(
        None, gt=0, le=86400, description="dwell: seconds one tracked object must stay in the zone (required)."
    )
    window: float = Field(
        10.0,
        gt=0,
        le=86400,
        description="line: seconds over which crossings are counted; the incident holds while min_count crossings "
        "lie within it.",
    )
    persistence: PersistenceSpec | None = Field(
        None,
        description="Flicker filter. Default: 3 of 5 frames for presence and count, 1 of 1 for dwell (dwell_seconds "
        "already demands time). Not allowed on line rules: a crossing is itself seen over two positions.",
    )
    model: str | None = Field(
        None,
        max_length=64,
        description="Model (one of the camera's detect.models) whose detections the rule looks at. Default: the "
        "camera's first model that knows one of the rule's labels, else its first model.",
    )
    category_code: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Minor category code of the raised events (checked against the taxonomy when wired).",
    )
    level: int = Field(4, ge=1, le=5, description="Event level: 1 especially serious (red) ... 5 notice (green).")
    title: str = Field(
        "{rule} at {camera}",
        min_length=1,
        max_length=300,
        description="str.format template of the event title; fields: {camera}, {rule}, {count}, {label}, {zone}, "
        "{dwell}.",
    )
    cooldown: float = Field(
        60.0, ge=0, le=86400, description="Seconds after an incident closes during which this rule opens no new one."
    )
    update_interval: float = Field(
        10.0, gt=0, le=86400, description="Least seconds between two updates of an open incident."
    )
    close_after: float = Field(
        2.0,
        ge=0,
        le=86400,
        description="Hold-off: seconds the condition must stay false before the incident closes, so a short "
        "detection gap does not split one incident in two.",
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone: list[Point] | None) -> list[Point] | None:
        if zone is None:
            return None
        if len(zone) < 3:
            raise ValueError(f"a zone polygon needs at least 3 points, got {len(zone)}")
        for p in zone:
            _check_point(p)
        return zone

    @field_validator("title")
    @classmethod
    def _title(cls, title: str) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(title) if name is not None]
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        for name in names:
            # Attribute and index access ({camera.__class__}) would let a template reach into objects.
            if name not in TITLE_FIELDS:
                allowed = ", ".join("{" + f + "}" for f in sorted(TITLE_FIELDS))
                raise ValueError(f"unknown field {{{name}}}; allowed: {allowed}")
        # Fill it once with values of the real types: a format spec that fails ({count:s}), a
        # nested field the names above do not show ({rule:{camera.__class__}}) or a width that
        # makes a huge string would otherwise fail or bloat every step of the rule, in the
        # engine thread, and stop the other rules of the camera on that frame.
        try:
            sample = title.format(camera="camera", rule="rule", count=12, label="label", zone="zone", dwell=345)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        if len(sample) > _TITLE_SAMPLE_MAX:
            raise ValueError(f"the template makes titles of {len(sample)} characters; at most {_TITLE_SAMPLE_MAX}")
        return title

    @model_validator(mode="after")
    def _kind_fields(self) -> RuleSpec:
        if self.kind == "line":
            if self.line is None:
                raise ValueError("a line rule needs `line`")
            if self.zone is not None:
                raise ValueError("`zone` is not used by line rules; the line itself is the boundary")
            if self.persistence is not None:
                raise ValueError("`persistence` is not used by line rules; use min_count and window")
        elif self.line is not None:
            raise ValueError(f"`line` is only used by line rules, not {self.kind}")
        if self.kind == "dwell" and self.dwell_seconds is None:
            raise ValueError("a dwell rule needs `dwell_seconds`")
        if self.kind != "dwell" and self.dwell_seconds is not None:
            raise ValueError(f"`dwell_seconds` is only used by dwell rules, not {self.kind}")
        return self

    def effective_persistence(self) -> PersistenceSpec:
        if self.persistence is not None:
            return self.persistence
        if self.kind in ("presence", "count"):
            return PersistenceSpec()
        return PersistenceSpec(frames=1, of_frames=1)

    def condition(self) -> tuple[object, ...]:
        """The fields that decide when the rule holds; a change of any other field (title,
        level, category, timing of updates) keeps an ongoing incident."""
        return (
            self.kind,
            self.enabled,
            tuple(self.labels) if self.labels is not None else None,
            self.min_score,
            tuple(self.zone) if self.zone is not None else None,
            self.line,
            self.min_count,
            self.dwell_seconds,
            self.window,
            self.effective_persistence(),
        )
