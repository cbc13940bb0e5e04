"""Track ids stay with their objects across frames, gaps and low-score detections."""

from __future__ import annotations

import numpy as np

from videohub.analytics.tracker import IouTracker, greedy_match, iou_matrix
from videohub.detect.base import Detection


def det(x: float, y: float, label: str = "car", score: float = 0.9, size: float = 40) -> Detection:
    return Detection(label, 0, score, (x, y, x + size, y + size))


def test_iou_matrix_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [200, 200, 210, 210]])
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert np.isclose(iou[0, 0], 50 / 150) and iou[0, 1] == 1.0 and iou[1].max() == 0.0
    assert greedy_match(iou, 0.3) == [(0, 1)]  # the best pair wins; row 0 is then taken


def test_ids_are_stable_for_objects_moving_side_by_side():
    tracker = IouTracker()
    ids = None
    for step in range(10):
        out = tracker.update([det(10 + 5 * step, 10), det(200 - 5 * step, 100)])
        now = [d.track_id for d in out]
        assert None not in now
        if ids is None:
            ids = now
        assert now == ids, f"frame {step}"
    assert ids is not None and len(set(ids)) == 2


def test_a_track_survives_missed_frames_then_dies():
    tracker = IouTracker(max_missed=2)
    first = tracker.update([det(10, 10)])[0].track_id
    tracker.update([])
    tracker.update([])
    assert tracker.update([det(12, 10)])[0].track_id == first  # two frames missed: same object
    for _ in range(3):
        tracker.update([])
    assert first not in tracker.alive_ids
    assert tracker.update([det(12, 10)])[0].track_id != first


def test_labels_never_share_a_track():
    tracker = IouTracker()
    car = tracker.update([det(10, 10, "car")])[0].track_id
    person = tracker.update([det(10, 10, "person")])[0].track_id
    assert person != car


def test_low_score_boxes_continue_tracks_but_never_start_one():
    tracker = IouTracker(high_score=0.5)
    tid = tracker.update([det(10, 10, score=0.9)])[0].track_id
    out = tracker.update([det(12, 10, score=0.2), det(300, 300, score=0.2)])
    assert out[0].track_id == tid  # half hidden: same car
    assert out[1].track_id is None  # background noise starts nothing
    assert tracker.alive_ids == {tid}


def test_velocity_prediction_follows_an_accelerating_object():
    tracker = IouTracker()
    xs = [0, 20, 40, 72, 104, 136]  # later steps overlap the last box by IoU 0.11 only
    ids = {tracker.update([det(x, 0)])[0].track_id for x in xs}
    assert len(ids) == 1
