"""The motion-gate benchmark's quick mode: a real H.264 clip of a mostly-still street through the
hub's motion gate and the HOG person detector. Figures are checked for consistency with the
clip's ground truth, never for speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import run_quick
from videohub.bench import motion as bench


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rc, data = run_quick(bench, tmp_path_factory.mktemp("motion") / "motion.json")
    assert rc == 0 and data is not None
    return data


def test_the_gate_cuts_runs_about_as_much_as_the_scene_is_still(result: dict[str, Any]) -> None:
    (r,) = result["results"]
    assert result["benchmark"] == "motion" and result["params"]["quick"] is True
    assert r["sampled_frames"] == r["model_runs_ungated"] == r["still_frames"] + r["frames_with_person"]
    assert 0.6 <= r["still_share"] <= 0.9  # the schedule asked for 75 % still
    assert r["model_runs_gated"] < r["model_runs_ungated"]
    # The gate passes every frame with somebody walking, plus a few still ones (the first frame,
    # the frame after the walker left), so it cuts a little less than the still share.
    assert r["frames_with_person_skipped"] == 0
    assert r["still_share"] - 0.15 <= r["runs_cut"] <= r["still_share"]


def test_nothing_the_model_found_is_lost_to_the_gate(result: dict[str, Any]) -> None:
    (r,) = result["results"]
    assert r["person_detections_ungated"] > 0  # HOG finds the walker at all
    assert r["person_detections_gated"] == r["person_detections_ungated"]
    assert r["person_detections_lost"] == 0
    assert r["walks_found_gated"] == r["walks_found_ungated"] == r["walks"] == 1


def test_schedule_spreads_walks_and_keeps_the_still_share() -> None:
    s = bench.Schedule.make(frames=3000, fps=25, still=0.8)
    active = sum(end - start for start, end in s.windows)
    assert len(s.windows) == 3 and abs(active / 3000 - 0.2) < 0.01
    assert all(a[1] < b[0] for a, b in zip(s.windows, s.windows[1:], strict=False))
    assert bench.Schedule.make(frames=100, fps=25, still=0.0).windows == ((0, 100),)


def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = run_quick(bench, tmp_path / "x.json", "--still", "1.5")
    assert rc == 2 and data is None
    assert "--still" in capsys.readouterr().err
