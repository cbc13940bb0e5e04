"""Execution providers: preferences filtered by what this onnxruntime has, CPU as the last resort."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from tests.detect.models import colour_model
from videohub.detect.onnx_yolo import OnnxYoloDetector, inspect_model
from videohub.detect.providers import CPU, DEFAULT_PROVIDERS, select_providers, session_options

CUDA, TRT = "CUDAExecutionProvider", "TensorrtExecutionProvider"


def test_keeps_the_available_ones_in_order() -> None:
    assert select_providers(DEFAULT_PROVIDERS, available=[CPU, CUDA, TRT]) == [TRT, CUDA, CPU]
    assert select_providers([CUDA, TRT], available=[CPU, CUDA, TRT]) == [CUDA, TRT, CPU]  # CPU always last
    assert select_providers(None, available=[CPU]) == [CPU]


def test_provider_options_pass_through() -> None:
    chosen = select_providers([(TRT, {"trt_fp16_enable": True}), CPU], available=[TRT, CPU])
    assert chosen == [(TRT, {"trt_fp16_enable": True}), CPU]


def test_fallback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="videohub.detect"):
        assert select_providers([CUDA], available=[CPU], what="m.onnx") == [CPU]
    [record] = [r for r in caplog.records if r.name == "videohub.detect"]
    assert record.levelno == logging.WARNING  # the CPU was not on the list: worth a warning
    assert "m.onnx" in record.message and CUDA in record.message and "using CPUExecutionProvider" in record.message
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="videohub.detect"):
        select_providers([TRT, CUDA, CPU], available=[CPU])
        select_providers(None, available=[CPU])
    # Falling back to a provider the list itself names is expected: a line, no alarm.
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert TRT in caplog.records[0].message


def test_session_options() -> None:
    quiet = session_options(threads=2)
    assert quiet.intra_op_num_threads == 2
    assert quiet.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(spin=True).get_session_config_entry("session.intra_op.allow_spinning") == "1"
    with pytest.raises(ValueError, match="threads"):
        session_options(threads=0)


@pytest.mark.skipif(CUDA in ort.get_available_providers(), reason="this machine has CUDA")
def test_detector_asking_for_cuda_runs_on_cpu(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = colour_model(tmp_path / "m.onnx")
    with caplog.at_level(logging.INFO, logger="videohub.detect"):
        det = OnnxYoloDetector(path, providers=[CUDA, CPU], threads=1)
    assert det.provider == CPU
    assert any(CUDA in r.message and "using CPUExecutionProvider" in r.message for r in caplog.records)
    assert inspect_model(path, providers=[CUDA])["provider"] == CPU
