"""The pipeline benchmark's quick mode end to end: two simulated RTSP cameras through the real
hub with a tiny ONNX model. The result must be complete and self-consistent; speed itself is
never asserted here."""

from __future__ import annotations

import gc
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bench.conftest import run_quick
from tests.detect.models import colour_model
from videohub.bench import pipeline as bench
from videohub.bench.ultralytics_worker import _Arrivals


def _run(out: Path, *extra: str) -> tuple[int, dict[str, Any] | None]:
    return run_quick(bench, out, *extra)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("pipeline")
    onnx = colour_model(tmp / "colour.onnx")
    rc, data = _run(tmp / "pipeline.json", "--model", str(onnx))
    assert rc == 0 and data is not None
    return data


def test_records_machine_cameras_and_parameters(result: dict[str, Any]) -> None:
    assert result["benchmark"] == "pipeline"
    assert result["machine"]["usable_cores"] >= 1 and result["machine"]["onnxruntime"]
    assert result["params"]["quick"] is True and result["params"]["fps"] is None
    assert "max" in result["params"]["analytics_fps"]
    cams = result["cameras"]
    assert (cams["count"], cams["width"], cams["height"], cams["fps"], cams["source"]) == (2, 320, 240, 25, "clip")
    assert result["model"]["layout"] == "yolov8"
    assert result["ultralytics"]["status"] == "disabled" and result["comparison"] is None


def test_hub_figures_are_positive_and_consistent(result: dict[str, Any]) -> None:
    hub = result["hub"]
    window = hub["window_s"]
    assert window > 0 and hub["fps_total"] > 0
    per_camera = hub["per_camera"]
    assert [c["camera"] for c in per_camera] == ["cam01", "cam02"]
    frames = hub["frames"]
    assert frames["processed"] == sum(c["processed"] for c in per_camera) > 0
    assert hub["fps_total"] == pytest.approx(frames["processed"] / window, rel=0.01)
    assert hub["fps_total"] == pytest.approx(sum(c["fps"] for c in per_camera), rel=0.01)
    assert hub["fps_per_camera"]["min"] <= hub["fps_per_camera"]["mean"] <= hub["fps_per_camera"]["max"]
    for cam in per_camera:
        assert cam["fps"] > 0 and cam["input_fps"] > 0 and cam["errors"] == 0 and cam["reconnects"] == 0
        # Every result comes from a decoded frame; the model sees at most what was decoded.
        assert cam["frames_received"] >= cam["frames_decoded"] >= cam["processed"] - 2
        assert cam["submitted"] >= cam["processed"] - 2 and cam["dropped_waiting_for_model"] >= 0
        # Polling sees (nearly) every result, and latency is positive and ordered.
        assert cam["processed"] - 2 <= cam["latency_samples"] <= cam["processed"] + 2
        lat = cam["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"]
    lat = hub["latency_ms"]
    assert lat["n"] == frames["latency_samples"] and 0 < lat["p50"] <= lat["p99"]
    # Batches: every processed frame was in one of the counted runs (give or take one run at
    # each end of the window, which the counters may straddle).
    assert hub["model_runs"] > 0 and sum(hub["batch_sizes"].values()) == hub["model_runs"]
    in_batches = sum(int(k) * v for k, v in hub["batch_sizes"].items())
    max_batch = hub["max_batch"]  # the engine's own, whatever the params asked
    assert abs(in_batches - frames["processed"]) <= 2 * max_batch
    assert 1 <= hub["mean_batch"] <= max_batch
    assert hub["runs_per_s"] == pytest.approx(hub["model_runs"] / window, rel=0.01)
    assert 0 <= hub["skipped_share"] < 1
    assert hub["cpu_cores"] > 0 and hub["camera_server_cores"] is not None and hub["camera_server_cores"] >= 0
    assert hub["input_hw"] == result["model"]["input_size"]


def test_table_lists_the_hub(result: dict[str, Any]) -> None:
    table = bench.format_table(result)
    assert any(line.startswith("hub ") for line in table.splitlines())
    assert "Ultralytics: disabled" in table


def test_ultralytics_figures_and_comparison() -> None:
    """The parent's side of the Ultralytics run, on a reply shaped like the worker's."""
    raw = {
        "ok": True,
        "versions": {"ultralytics": "8.x", "torchvision_compiled_ops": False},
        "input_hw": [384, 640],
        "startup_s": 2.0,
        "window_s": 10.0,
        "cpu_s": 15.0,
        "system_busy_s": 17.0,
        "watched_cpu_s": 0.5,
        "batches": 50,
        "batch_size": 2,
        "processed": [50, 50],
        "frames_read": [250, 250],
        "latencies_s": [[0.4] * 50, [0.5] * 50],
        "unmatched": 0,
        "stage_ms_per_image": {"preprocess": 1.0, "inference": 20.0, "postprocess": 30.0},
    }
    ul = bench._ultralytics_figures(raw, ["cam01", "cam02"])
    assert ul["fps_total"] == 10.0 and ul["fps_per_camera"]["mean"] == 5.0
    assert ul["frames"] == {"processed": 100, "frames_read": 500, "dropped": 400} and ul["skipped_share"] == 0.8
    assert ul["latency_ms"]["p50"] == pytest.approx(450, abs=50) and ul["latency_ms"]["n"] == 100
    assert ul["cpu_cores"] == 1.5 and ul["camera_server_cores"] == 0.05
    assert ul["other_load_cores"] == pytest.approx(0.15)
    hub = {"fps_total": 12.0, "latency_ms": {"p50": 140.0, "p99": 200.0}, "cpu_cores": 1.2, "input_hw": [640, 640]}
    c = bench.compare(hub, ul)
    assert c is not None
    assert c["fps_hub_over_ultralytics"] == 1.2 and c["same_input_size"] is False
    assert c["goal_fps_at_least_ultralytics"] is True and c["goal_latency_p50_at_most_a_third"] is True
    assert bench.compare(hub, {"status": "not installed"}) is None


def test_arrivals_are_tied_to_the_image_object() -> None:
    arrivals = _Arrivals(2)
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    arrivals.stamp(a, 1.0, 0)
    arrivals.stamp(b, 2.0, 1)
    assert arrivals.get(a) == (1.0, 0) and arrivals.get(b) == (2.0, 1) and arrivals.reads == [1, 1]
    assert arrivals.get(a.copy()) is None
    del a
    gc.collect()
    assert len(arrivals._at) == 1  # a collected image leaves no entry behind


@pytest.mark.skipif(
    not os.environ.get("VIDEOHUB_ULTRALYTICS_PYTHON") and importlib.util.find_spec("ultralytics") is None,
    reason="needs a Python with Ultralytics ($VIDEOHUB_ULTRALYTICS_PYTHON)",
)
def test_ultralytics_streaming_comparison(tmp_path: Path) -> None:
    onnx = colour_model(tmp_path / "u.onnx")
    rc, data = _run(tmp_path / "u.json", "--model", str(onnx), "--compare", "ultralytics")
    assert rc == 0 and data is not None
    ul = data["ultralytics"]
    assert ul["status"] == "ok" and ul["fps_total"] > 0 and ul["latency_ms"]["p50"] > 0
    assert ul["frames"]["processed"] == sum(c["processed"] for c in ul["per_camera"])
    assert data["comparison"]["fps_hub_over_ultralytics"] > 0


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    rc, data = _run(tmp_path / "x.json", "--model", str(tmp_path / "missing.onnx"))
    assert rc == 2 and data is None
    onnx = colour_model(tmp_path / "ok.onnx")
    rc, data = _run(tmp_path / "y.json", "--model", str(onnx), "--fps", "100")
    assert rc == 2 and data is None
    rc, data = _run(tmp_path / "z.json", "--model", str(onnx), "--cameras", "0")
    assert rc == 2 and data is None
