"""Zones by the bottom-centre point, and directed line crossings."""

from __future__ import annotations

import numpy as np
import pytest

from videohub.analytics.zones import LineCounter, PolygonZone, anchor_points, side_of
from videohub.detect.base import Detection


def box_at(x: float, y: float, w: float = 20, h: float = 40, label: str = "person") -> Detection:
    """A detection whose bottom-centre is at pixel (x, y)."""
    return Detection(label, 0, 0.9, (x - w / 2, y - h, x + w / 2, y))


def test_contains_is_vectorised_and_handles_a_concave_polygon():
    # An L shape: the top-right quarter is cut away.
    zone = PolygonZone([(0, 0), (0.5, 0), (0.5, 0.5), (1, 0.5), (1, 1), (0, 1)])
    pts = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75], [1.5, 0.5], [-0.1, 0.9]])
    assert zone.contains(pts).tolist() == [True, False, True, True, False, False]
    assert zone.contains(np.zeros((0, 2))).shape == (0,)


def test_an_object_is_in_a_zone_by_its_bottom_centre():
    zone = PolygonZone([(0.2, 0.2), (0.8, 0.2), (0.8, 0.6), (0.2, 0.6)])
    box_in_feet_below = Detection("person", 0, 0.9, (40, 25, 60, 70))  # most of the box inside, feet below it
    box_above_feet_in = Detection("person", 0, 0.9, (40, 0, 60, 30))  # most of the box above, feet inside
    feet_in_corner = Detection("person", 0, 0.9, (10, 50, 50, 55))  # bottom-centre (30, 55): inside
    mask = zone.trigger([box_in_feet_below, box_above_feet_in, feet_in_corner], (100, 100))
    assert mask.tolist() == [False, True, True]
    # Anchors are normalised by (width, height): a 200x100 frame halves x.
    assert anchor_points([box_at(100, 50)], (200, 100)).tolist() == [[0.5, 0.5]]


def test_a_zone_drawn_to_the_edge_of_the_picture_holds_objects_cut_off_by_it():
    # Detectors clip boxes to the image: a car the frame cuts off at the bottom (or right)
    # ends exactly on the edge, and so does its bottom-centre.
    lower_half = PolygonZone([(0, 0.5), (1, 0.5), (1, 1), (0, 1)])
    cut_off = Detection("car", 0, 0.9, (30, 70, 70, 100))  # bottom-centre (0.5, 1.0)
    assert lower_half.trigger([cut_off], (100, 100)).tolist() == [True]
    corner = PolygonZone([(0.6, 0.6), (1, 0.6), (1, 1), (0.6, 1)])
    assert corner.contains(np.array([[1.0, 1.0], [1.0, 0.8], [0.6, 0.8], [0.8, 0.6], [0.59, 0.8]])).tolist() == [
        True,
        True,
        True,
        True,
        False,
    ]
    slanted = PolygonZone([(0, 0), (1, 1), (0, 1)])  # on the diagonal border: in
    assert slanted.contains(np.array([[0.3, 0.3], [0.3, 0.2]])).tolist() == [True, False]


def test_side_convention_positive_is_right_of_start_to_end_which_is_below_for_a_left_to_right_line():
    sides = side_of((0.0, 0.5), (1.0, 0.5), np.array([[0.5, 0.8], [0.5, 0.2], [0.5, 0.5]]))
    assert sides[0] > 0 and sides[1] < 0 and sides[2] == 0


def walk(counter: LineCounter, track: int, ys: list[float], x: float = 0.5) -> list[str]:
    ways = []
    for y in ys:
        ways += [w for _, w in counter.update([track], np.array([[x, y]]))]
    return ways


def test_only_the_configured_direction_counts():
    down = LineCounter((0.1, 0.5), (0.9, 0.5), "left_to_right")
    assert walk(down, 1, [0.2, 0.4, 0.6, 0.8]) == ["left_to_right"]  # moving down the image
    assert walk(down, 2, [0.8, 0.6, 0.4, 0.2]) == []  # moving up: wrong way for this line
    up = LineCounter((0.1, 0.5), (0.9, 0.5), "right_to_left")
    assert walk(up, 2, [0.8, 0.6, 0.4, 0.2]) == ["right_to_left"]
    both = LineCounter((0.1, 0.5), (0.9, 0.5))
    assert walk(both, 3, [0.2, 0.7, 0.3]) == ["left_to_right", "right_to_left"]


def test_passing_beyond_the_end_touching_and_standing_still_count_nothing():
    line = LineCounter((0.1, 0.5), (0.9, 0.5))
    assert walk(line, 1, [0.2, 0.8], x=0.95) == []  # past the end of the tripwire
    assert walk(line, 2, [0.3, 0.5, 0.3]) == []  # onto the line and back
    assert walk(line, 3, [0.3, 0.5, 0.5, 0.7]) == ["left_to_right"]  # via the line, once
    assert walk(line, 4, [0.7] * 5) == []


def test_each_track_is_followed_separately_and_forgotten_when_dead():
    line = LineCounter((0.0, 0.5), (1.0, 0.5), "left_to_right")
    assert line.update([1, 2], np.array([[0.2, 0.4], [0.6, 0.6]])) == []
    assert line.update([1, 2], np.array([[0.2, 0.6], [0.6, 0.4]])) == [(1, "left_to_right")]
    line.forget([2])
    # Track 1 is forgotten: its next position starts afresh instead of counting a jump.
    assert line.update([1], np.array([[0.2, 0.4]])) == []
    with pytest.raises(ValueError):
        LineCounter((0.5, 0.5), (0.5, 0.5))
