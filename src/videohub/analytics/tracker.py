"""`IouTracker`: stable ids for detected objects across the analysed frames of one camera.

Dwell time and line crossings need to know that the car of this frame is the car of the
last one. Analytics run at a few frames per second, where a greedy match on box overlap
(IoU) is as good as anything heavier, and needs nothing beyond numpy:

- boxes of a track are predicted one step ahead with the track's recent velocity, so an
  object that moves far between two sampled frames still overlaps its prediction;
- ByteTrack-style two stages: confident detections are matched first; the tracks left over
  may then take low-score detections (an object half hidden, blurred or far away), which
  keeps its id instead of starting a new one. Low-score detections never start a track;
- a track survives `max_missed` frames without a match (a missed detection, a passer-by in
  front), and objects of different labels never share a track.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from videohub.detect.base import Detection


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of (N, 4) and (M, 4) x1, y1, x2, y2 boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_match(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, column) taken best first, each row and column at most once, of those
    scoring at least `threshold`."""
    rows, cols = np.nonzero(scores >= threshold)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


@dataclass
class Track:
    id: int
    label: str
    box: np.ndarray  # last matched box
    velocity: np.ndarray  # box change per analysed frame
    missed: int = 0  # frames since the last match
    hits: int = 1

    def predicted(self) -> np.ndarray:
        return self.box + self.velocity * (self.missed + 1)


class IouTracker:
    def __init__(
        self,
        iou_threshold: float = 0.3,
        low_iou_threshold: float = 0.5,
        high_score: float = 0.2,
        max_missed: int = 5,
    ) -> None:
        # high_score is the lowest default floor of the hub's detectors (fire 0.2, YOLO 0.25,
        # HOG 0.4): whatever a detector reports with its defaults starts tracks, and only a
        # camera whose detect.conf is set lower feeds the low-score second stage.
        self.iou_threshold = iou_threshold
        self.low_iou_threshold = low_iou_threshold  # stricter: a weak box must overlap well
        self.high_score = high_score
        self.max_missed = max_missed
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    @property
    def alive_ids(self) -> set[int]:
        return {t.id for t in self._tracks}

    def _match(
        self, tracks: list[int], dets: list[int], detections: Sequence[Detection], threshold: float
    ) -> list[tuple[int, int]]:
        if not tracks or not dets:
            return []
        pred = np.stack([self._tracks[i].predicted() for i in tracks])
        boxes = np.asarray([detections[j].box for j in dets], dtype=np.float64)
        iou = iou_matrix(pred, boxes)
        same = (
            np.asarray([self._tracks[i].label for i in tracks], dtype=object)[:, None]
            == np.asarray([detections[j].label for j in dets], dtype=object)[None, :]
        )
        iou = np.where(same, iou, 0.0)
        return [(tracks[r], dets[c]) for r, c in greedy_match(iou, threshold)]

    def update(self, detections: Sequence[Detection]) -> list[Detection]:
        """Matches one analysed frame's detections; returns them in the same order with
        `track_id` set (None for a low-score detection that continued no track)."""
        high = [j for j, d in enumerate(detections) if d.score >= self.high_score]
        low = [j for j, d in enumerate(detections) if d.score < self.high_score]
        all_tracks = list(range(len(self._tracks)))
        first = self._match(all_tracks, high, detections, self.iou_threshold)
        taken = {i for i, _ in first}
        second = self._match([i for i in all_tracks if i not in taken], low, detections, self.low_iou_threshold)
        assigned: dict[int, int] = {}
        for i, j in first + second:
            track = self._tracks[i]
            box = np.asarray(detections[j].box, dtype=np.float64)
            step = (box - track.box) / (track.missed + 1)
            # Smoothed: one jittery box should not throw the next prediction off.
            track.velocity = step if track.hits == 1 else 0.5 * track.velocity + 0.5 * step
            track.box, track.missed = box, 0
            track.hits += 1
            assigned[j] = track.id
        matched = {i for i, _ in first + second}
        for i, track in enumerate(self._tracks):
            if i not in matched:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for j in high:
            if j not in assigned:
                track = Track(
                    next(self._ids), detections[j].label, np.asarray(detections[j].box, dtype=np.float64), np.zeros(4)
                )
                self._tracks.append(track)
                assigned[j] = track.id
        return [dataclasses.replace(d, track_id=assigned.get(j)) for j, d in enumerate(detections)]
