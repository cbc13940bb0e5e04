"""The ingest benchmark's quick mode end to end: it must produce a complete, self-consistent
result. Speed itself is never asserted here; that is what the benchmark's figures are for."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from videohub.bench import ingest


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("ingest") / "ingest.json"
    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    assert ingest.run(parser.parse_args(["--quick", "--out", str(out)])) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_records_machine_and_parameters(result: dict[str, Any]) -> None:
    machine = result["machine"]
    assert machine["cpu_model"] and machine["usable_cores"] >= 1
    assert machine["pyav"] and machine["ffmpeg"] and machine["python"]
    assert result["params"]["quick"] is True
    assert result["params"]["fps"] == 25 and result["params"]["gop"] == 50


def test_clips_are_camera_like(result: dict[str, Any]) -> None:
    assert set(result["clips"]) == {"720p", "1080p"}
    for name, clip in result["clips"].items():
        assert (clip["width"], clip["height"]) == {"720p": (1280, 720), "1080p": (1920, 1080)}[name]
        assert clip["frames"] == 25 and clip["keyframes"] >= 1
        assert clip["actual_kbps"] > 0


def test_every_resolution_and_mode_has_consistent_figures(result: dict[str, Any]) -> None:
    assert set(result["results"]) == {"720p", "1080p"}
    for res, modes in result["results"].items():
        assert set(modes) == {"full", "full+bgr", "key"}, res
        for r in modes.values():
            single = r["single"]
            for key in ("wall_s", "cpu_s", "decoded_fps", "realtime_factor", "cpu_pct_per_stream"):
                assert single[key] > 0, key
            assert single["predicted_streams"] >= 1
            assert "B" not in single["frame_types"]
            paced = r["paced"]
            assert paced["probes"], "at least one paced run"
            for p in paced["probes"]:
                assert p["streams"] >= 1 and p["frames_decoded"] > 0 and p["cpu_cores"] >= 0
            assert 0 <= paced["streams"] <= result["params"]["max_streams"]
        clip = result["clips"][res]
        full, key = modes["full"]["single"], modes["key"]["single"]
        assert full["frames_decoded"] == clip["frames"]
        assert full["frame_types"].get("I", 0) == clip["keyframes"]
        assert key["frames_decoded"] == clip["keyframes"] < full["frames_decoded"]
        assert set(key["frame_types"]) == {"I"}
        assert modes["full+bgr"]["single"]["frames_decoded"] == full["frames_decoded"]


def test_table_lists_every_row(result: dict[str, Any]) -> None:
    table = ingest.format_table(result)
    for res in ("720p", "1080p"):
        for mode in ("full", "full+bgr", "key"):
            assert any(line.split()[:2] == [res, mode] for line in table.splitlines())


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--quick", "--resolutions", "4k", "--out", str(tmp_path / "x.json")])
    assert ingest.run(args) == 2
    assert not (tmp_path / "x.json").exists()
