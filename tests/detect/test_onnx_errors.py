"""Models videohub cannot use are refused with a ModelError that names the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.detect.models import IR_VERSION, OPSET, constant_model, ultralytics_metadata, v8_output
from videohub.detect.base import ModelError
from videohub.detect.onnx_yolo import OnnxYoloDetector, inspect_model

NAMES = ["person", "car"]


def refused(path: Path, match: str) -> str:
    """Both entry points refuse it, the same way; returns the message."""
    with pytest.raises(ModelError, match=match) as info:
        OnnxYoloDetector(path)
    assert str(path) in str(info.value)
    with pytest.raises(ModelError, match=match):
        inspect_model(path)
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere.onnx", "no such model file")


def test_a_directory(tmp_path: Path) -> None:
    refused(tmp_path, "not a file")


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    refused(path, "not a loadable ONNX model")


def test_truncated_model(tmp_path: Path) -> None:
    good = constant_model(tmp_path / "good.onnx", v8_output([], [], [], 2, 8400))
    path = tmp_path / "truncated.onnx"
    path.write_bytes(good.read_bytes()[:500])
    refused(path, "not a loadable ONNX model")


def test_segmentation_like_model_with_two_outputs(tmp_path: Path) -> None:
    # output0 [1, 4 + nc + 32, N] boxes with mask coefficients, output1 [1, 32, 160, 160] prototypes
    outputs = [np.zeros((4 + 2 + 32, 8400), np.float32), np.zeros((32, 160, 160), np.float32)]
    message = refused(constant_model(tmp_path / "seg.onnx", outputs), "2 outputs")
    assert "segmentation" in message
    with_task = constant_model(tmp_path / "seg2.onnx", outputs, metadata=ultralytics_metadata(NAMES, task="segment"))
    refused(with_task, "'segment' model")


def test_classifier(tmp_path: Path) -> None:
    meta = ultralytics_metadata([f"c{i}" for i in range(10)], (224, 224))
    meta.pop("task")  # shape alone must give it away
    path = constant_model(tmp_path / "cls.onnx", np.zeros(10, np.float32), input_hw=(224, 224), metadata=meta)
    refused(path, "rank 2.*classification")


def test_pose_by_metadata_and_by_shape(tmp_path: Path) -> None:
    out = np.zeros((4 + 1 + 51, 8400), np.float32)  # box, 1 class, 17 keypoints x 3
    refused(constant_model(tmp_path / "pose.onnx", out, metadata=ultralytics_metadata(["person"], task="pose")), "pose")
    meta = ultralytics_metadata(["person"])
    meta.pop("task")
    refused(constant_model(tmp_path / "pose2.onnx", out, metadata=meta), "fits no detection layout for 1 classes")


def test_malformed_names_metadata(tmp_path: Path) -> None:
    meta = ultralytics_metadata(NAMES)
    meta["names"] = "__import__('os').getcwd()"
    path = constant_model(tmp_path / "evil.onnx", v8_output([], [], [], 2, 8400), metadata=meta)
    refused(path, "names")
    assert OnnxYoloDetector(path, names=NAMES).labels == NAMES  # names given by the caller stand in


def test_an_input_that_is_no_image_batch(tmp_path: Path) -> None:
    path = tmp_path / "gray.onnx"
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 1, 64, 64])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 64, 64])
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    path.write_bytes(model.SerializeToString())
    refused(path, r"not an image batch \[B, 3, H, W\]")
