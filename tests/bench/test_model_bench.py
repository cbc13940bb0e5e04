"""The model benchmark's quick mode end to end on a tiny ONNX model: the result must be complete
and self-consistent. Speed itself is never asserted; that is what the benchmark's figures are for."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import run_quick
from tests.detect.models import colour_model
from videohub.bench import model as bench

HW = (64, 64)  # colour_model's input


def _run(out: Path, *extra: str) -> tuple[int, dict[str, Any] | None]:
    return run_quick(bench, out, *extra)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("model")
    onnx = colour_model(tmp / "colour.onnx")
    rc, data = _run(tmp / "model.json", "--model", str(onnx), "--compare", "none")
    assert rc == 0 and data is not None
    return data


def _check_stats(stats: dict[str, Any], batch: int, shape: list[int]) -> None:
    assert stats["input_shape"] == shape
    assert stats["calls"] >= 1 and stats["frames"] == stats["calls"] * batch
    assert stats["wall_s"] > 0 and stats["fps"] > 0 and stats["cpu_cores"] >= 0
    assert stats["fps"] == pytest.approx(stats["frames"] / stats["wall_s"], rel=0.01)
    assert stats["ms_per_frame"] == pytest.approx(1000 / stats["fps"], rel=0.01)
    lat = stats["latency_ms"]
    assert lat["n"] == stats["calls"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert stats["rounds_fps"] and all(v > 0 for v in stats["rounds_fps"])


def test_records_machine_model_and_parameters(result: dict[str, Any]) -> None:
    assert result["benchmark"] == "model"
    machine = result["machine"]
    assert machine["cpu_model"] and machine["usable_cores"] >= 1 and machine["onnxruntime"]
    assert result["params"]["quick"] is True and result["params"]["batches"] == [1, 2]
    model = result["model"]
    assert model["layout"] == "yolov8" and model["input_size"] == list(HW) and model["dynamic_batch"] is True
    assert result["source"]["frames"] >= 1 and result["source"]["width"] > 0
    assert result["ultralytics"]["status"] == "disabled"
    assert result["elapsed_s"] > 0


def test_every_batch_size_has_consistent_figures(result: dict[str, Any]) -> None:
    assert [r["batch"] for r in result["results"]] == [1, 2]
    assert result["skipped_batches"] == []
    for r in result["results"]:
        b = r["batch"]
        assert r["mode"] == "batched"
        for method in ("bare", "detector"):
            _check_stats(r[method], b, [b, 3, *HW])
        assert r["ultralytics"] is None
        ratios = r["ratios"]
        assert ratios["detector_over_bare_fps"] == pytest.approx(r["detector"]["fps"] / r["bare"]["fps"], rel=0.01)
        assert ratios["detector_over_ultralytics_fps"] is None
        assert isinstance(r["goal_detector_within_10pct_of_bare"], bool)


def test_table_lists_every_row(result: dict[str, Any]) -> None:
    table = bench.format_table(result)
    for b in ("1", "2"):
        for label in ("(a) session.run", "(b) hub detector"):
            assert any(line.split()[:1] == [b] and label in line for line in table.splitlines()), (b, label)
    assert "Ultralytics: disabled" in table


def test_batch_one_model_runs_larger_batches_frame_by_frame(tmp_path: Path) -> None:
    onnx = colour_model(tmp_path / "b1.onnx", batch=1)
    rc, data = _run(tmp_path / "b1.json", "--model", str(onnx), "--compare", "none")
    assert rc == 0 and data is not None
    one, two = data["results"]
    assert (one["mode"], two["mode"]) == ("batched", "frame_by_frame")
    _check_stats(two["bare"], 2, [1, 3, *HW])  # two runs of one frame per call
    _check_stats(two["detector"], 2, [1, 3, *HW])
    assert "frame by frame" in bench.format_table(data)


def test_static_batch_model_runs_only_its_batch_size(tmp_path: Path) -> None:
    onnx = colour_model(tmp_path / "b2.onnx", batch=2)
    rc, data = _run(tmp_path / "b2.json", "--model", str(onnx), "--compare", "none", "--batches", "1,2,4")
    assert rc == 0 and data is not None
    assert [r["batch"] for r in data["results"]] == [2]
    assert [s["batch"] for s in data["skipped_batches"]] == [1, 4]
    _check_stats(data["results"][0]["detector"], 2, [2, 3, *HW])


def test_missing_ultralytics_is_marked_not_installed(tmp_path: Path) -> None:
    # A stand-in for a Python without the extra: it answers the probe as one would.
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho ultralytics,torch\n")
    python.chmod(0o755)
    onnx = colour_model(tmp_path / "c.onnx")
    rc, data = _run(tmp_path / "c.json", "--model", str(onnx), "--batches", "1", "--ultralytics-python", str(python))
    assert rc == 0 and data is not None
    assert data["ultralytics"]["status"] == "not installed"
    assert "lacks ultralytics, torch" in data["ultralytics"]["detail"]
    assert data["results"][0]["ultralytics"] is None
    assert "Ultralytics: not installed" in bench.format_table(data)
    # Asked for explicitly, a missing Ultralytics is an error, not a silent omission.
    rc, _ = _run(tmp_path / "d.json", "--model", str(onnx), "--compare", "ultralytics", "--ultralytics-python", "/no")
    assert rc == 2 and not (tmp_path / "d.json").exists()


@pytest.mark.skipif(
    not os.environ.get("VIDEOHUB_ULTRALYTICS_PYTHON") and importlib.util.find_spec("ultralytics") is None,
    reason="needs a Python with Ultralytics ($VIDEOHUB_ULTRALYTICS_PYTHON)",
)
def test_ultralytics_comparison(tmp_path: Path) -> None:
    onnx = colour_model(tmp_path / "u.onnx")
    rc, data = _run(tmp_path / "u.json", "--model", str(onnx), "--compare", "ultralytics", "--batches", "2")
    assert rc == 0 and data is not None
    assert data["ultralytics"]["status"] == "ok" and data["ultralytics"]["versions"]["ultralytics"]
    r = data["results"][0]
    _check_stats(r["ultralytics"], 2, [2, 3, *HW])
    assert r["ratios"]["detector_over_ultralytics_fps"] == pytest.approx(
        r["detector"]["fps"] / r["ultralytics"]["fps"], rel=0.01
    )
    assert r["same_input_shape_as_ultralytics"] is True


def test_plan_batches() -> None:
    plans, skipped = bench.plan_batches([1, 2, 8], None)
    assert [(p.batch, p.mode) for p in plans] == [(1, "batched"), (2, "batched"), (8, "batched")] and not skipped
    plans, _ = bench.plan_batches([1, 4], 1)
    assert [(p.batch, p.mode) for p in plans] == [(1, "batched"), (4, "frame_by_frame")]
    plans, skipped = bench.plan_batches([1, 2], 4)
    assert [(p.batch, p.mode) for p in plans] == [(4, "batched")] and len(skipped) == 2


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    rc, data = _run(tmp_path / "x.json", "--model", str(tmp_path / "missing.onnx"))
    assert rc == 2 and data is None
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    rc, data = _run(tmp_path / "y.json", "--model", str(broken), "--compare", "none")
    assert rc == 2 and data is None
    onnx = colour_model(tmp_path / "ok.onnx")
    rc, data = _run(tmp_path / "z.json", "--model", str(onnx), "--batches", "0,2")
    assert rc == 2 and data is None


@pytest.mark.parametrize("source", sorted(bench.FRAME_SOURCES))
def test_every_frame_source_decodes_to_distinct_frames(source: str, tmp_path: Path) -> None:
    frames, info = bench.decoded_frames(3, "320x240", tmp_path, source)
    assert info == {"width": 320, "height": 240, "frames": 3, "clip": bench.FRAME_SOURCES[source]}
    assert all(f.shape == (240, 320, 3) for f in frames)
    assert not (frames[0] == frames[2]).all()  # moving pictures, not one still
