"""All classic detectors keep the same contract as every other backend."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from videohub.detect.base import Detection, Detector
from videohub.detect.classic import FireDetector, HogPeopleDetector, MotionDetector


def detectors() -> list[Detector]:
    return [HogPeopleDetector(), MotionDetector(), FireDetector()]


@pytest.mark.parametrize("detector", detectors(), ids=lambda d: d.name)
def test_batch_in_batch_out(detector: Detector) -> None:
    rng = np.random.default_rng(0)
    # Mixed sizes in one batch, including odd and tiny ones; random frames change a lot,
    # so motion (after its first frame) reports regions whose boxes must stay in bounds.
    sizes = [(360, 640), (240, 320), (97, 131), (720, 1280), (8, 8), (360, 640)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    out = detector.detect(images)
    assert isinstance(out, list) and len(out) == len(images)
    for image, dets in zip(images, out, strict=True):
        assert isinstance(dets, list)
        for d in dets:
            assert isinstance(d, Detection)
            assert d.label == detector.labels[d.class_id]
            assert isinstance(d.score, float) and 0.0 <= d.score <= 1.0
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    assert detector.detect([]) == []
    assert detector.provider == "opencv"


def test_stateful_detectors_take_stream_keys() -> None:
    # The engine passes camera ids as `keys` to detectors whose detect() has that parameter.
    assert "keys" in inspect.signature(MotionDetector().detect).parameters
    assert "keys" in inspect.signature(FireDetector().detect).parameters
    assert "keys" not in inspect.signature(HogPeopleDetector().detect).parameters
