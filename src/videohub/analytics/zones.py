"""Polygon zones and directed lines in normalised image coordinates.

An object's position is the bottom-centre of its box: where it stands on the ground. A
person whose head is inside a no-entry zone drawn on the pavement but whose feet are
outside has not entered it; a car parked on a yellow line has its wheels on it.

Scaling x and y by positive factors changes no side of a line and no ratio along it, so
all geometry here works in normalised coordinates, whatever the stream resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from videohub.analytics.spec import LineDirection, Point
from videohub.detect.base import Detection


def anchor_points(detections: Sequence[Detection], frame_size: tuple[int, int]) -> np.ndarray:
    """(N, 2) normalised bottom-centre points of the boxes; frame_size is (width, height)."""
    w, h = frame_size
    if w <= 0 or h <= 0:
        raise ValueError(f"frame size must be positive, got {frame_size}")
    if not detections:
        return np.zeros((0, 2), dtype=np.float64)
    boxes = np.asarray([d.box for d in detections], dtype=np.float64)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / (2.0 * w), boxes[:, 3] / h], axis=1)


_EPS = 1e-9  # normalised units: far below a pixel of any stream


class PolygonZone:
    def __init__(self, points: Sequence[Point]) -> None:
        if len(points) < 3:
            raise ValueError("a zone polygon needs at least 3 points")
        self.points = np.asarray(points, dtype=np.float64)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask over (N, 2) normalised points: inside the polygon (even-odd rule,
        so a self-crossing polygon behaves as it is drawn) or on its border. The border
        counts as in: a zone drawn to the edge of the picture must hold the objects the
        frame cuts off there, whose (clipped) boxes end exactly on that edge. Vectorised
        over the points; the loop runs over the few edges only."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        x, y = pts[:, 0], pts[:, 1]
        inside = np.zeros(len(pts), dtype=bool)
        on_border = np.zeros(len(pts), dtype=bool)
        xs, ys = self.points[:, 0], self.points[:, 1]
        for i in range(len(xs)):
            x1, y1, x2, y2 = xs[i - 1], ys[i - 1], xs[i], ys[i]
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            on_border |= (
                (np.abs(cross) <= _EPS * np.hypot(x2 - x1, y2 - y1))
                & (np.minimum(x1, x2) - _EPS <= x)
                & (x <= np.maximum(x1, x2) + _EPS)
                & (np.minimum(y1, y2) - _EPS <= y)
                & (y <= np.maximum(y1, y2) + _EPS)
            )
            if y1 == y2:
                continue  # a horizontal edge never straddles a horizontal ray
            straddles = (y1 > y) != (y2 > y)
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            inside ^= straddles & (x < x_cross)
        return inside | on_border

    def trigger(self, detections: Sequence[Detection], frame_size: tuple[int, int]) -> np.ndarray:
        """Boolean mask over the detections: bottom-centre inside the zone."""
        return self.contains(anchor_points(detections, frame_size))


def side_of(start: Point, end: Point, points: np.ndarray) -> np.ndarray:
    """Cross product (end - start) x (p - start) for (N, 2) points. In image coordinates
    (y down) it is positive on the right of the line as seen standing on `start` facing
    `end`, negative on the left, zero on it."""
    ax, ay = start
    dx, dy = end[0] - ax, end[1] - ay
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return dx * (pts[:, 1] - ay) - dy * (pts[:, 0] - ax)


class LineCounter:
    """Directed crossings of a line segment by tracked objects.

    Each track's last position off the line is remembered; a crossing is a move from one
    side to the other whose path meets the segment between its ends (walking past the end
    of a tripwire is not crossing it). Touching the line and going back counts nothing.
    `left_to_right` is a move from negative to positive `side_of` (down the image for a
    line drawn from left to right).
    """

    def __init__(self, start: Point, end: Point, direction: LineDirection = "both") -> None:
        if start == end:
            raise ValueError("line start and end are the same point")
        self.start, self.end, self.direction = start, end, direction
        self._last: dict[int, tuple[float, float, float]] = {}  # track -> (x, y, side_of), side_of != 0

    def update(self, track_ids: Sequence[int], points: np.ndarray) -> list[tuple[int, LineDirection]]:
        """Feeds the current (normalised) positions of tracks; returns the crossings in
        the counted direction as (track_id, 'left_to_right' | 'right_to_left')."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(track_ids) != len(pts):
            raise ValueError("one point per track id")
        sides = side_of(self.start, self.end, pts)
        known = [i for i, t in enumerate(track_ids) if t in self._last]
        crossings: list[tuple[int, LineDirection]] = []
        if known:
            prev = np.asarray([self._last[track_ids[i]] for i in known], dtype=np.float64)
            cur, s1 = pts[known], sides[known]
            s0 = prev[:, 2]
            flipped = s0 * s1 < 0
            # Where the move meets the infinite line, as a fraction u along the segment.
            t = np.divide(s0, s0 - s1, out=np.zeros_like(s0), where=flipped)
            meet = prev[:, :2] + t[:, None] * (cur - prev[:, :2])
            a, b = np.asarray(self.start), np.asarray(self.end)
            ab = b - a
            u = (meet - a) @ ab / float(ab @ ab)
            crossed = flipped & (u >= 0.0) & (u <= 1.0)
            for j in np.flatnonzero(crossed):
                way: LineDirection = "left_to_right" if s1[j] > 0 else "right_to_left"
                if self.direction in ("both", way):
                    crossings.append((track_ids[known[j]], way))
        for i, tid in enumerate(track_ids):
            if sides[i] != 0:  # on the line: keep the side it came from
                self._last[tid] = (float(pts[i, 0]), float(pts[i, 1]), float(sides[i]))
        return crossings

    def forget(self, alive: Iterable[int]) -> None:
        """Drops the positions of tracks no longer alive."""
        keep = set(alive)
        for tid in [t for t in self._last if t not in keep]:
            del self._last[tid]
