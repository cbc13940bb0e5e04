"""INT8 quantization of a small convolutional YOLOv8-layout model built here: real int8
kernels, the head's Concat kept fp32, metadata kept, detections close to fp32's."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.detect.models import ultralytics_metadata
from videohub.cli import main
from videohub.detect.onnx_yolo import OnnxYoloDetector
from videohub.detect.quantize import compare, drift, load_frames, quantize_model

pytest.importorskip("sympy", reason="onnxruntime's quantization pre-processing needs sympy (test extra)")


def conv_yolo(path: Path, size: int = 64) -> Path:
    """input -> conv/relu x2 (stride 2) -> 1x1 conv to 4+2 channels -> boxes (sigmoid * size)
    and class scores (sigmoid) -> Concat -> [B, 6, N], as Ultralytics' v8 head ends."""
    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.4, (8, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(0, 0.5, (6, 8, 1, 1)).astype(np.float32), "w3"),
        numpy_helper.from_array(np.array([0, 6, -1], np.int64), "flat"),
        numpy_helper.from_array(np.array([4, 2], np.int64), "split"),
        numpy_helper.from_array(np.array(size, np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["c3"]),
        helper.make_node("Reshape", ["c3", "flat"], ["raw"]),
        helper.make_node("Split", ["raw", "split"], ["box_raw", "cls_raw"], axis=1),
        helper.make_node("Sigmoid", ["box_raw"], ["box_unit"]),
        helper.make_node("Mul", ["box_unit", "scale"], ["boxes"]),
        helper.make_node("Sigmoid", ["cls_raw"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1, name="head_concat"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, (size // 4) ** 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in ultralytics_metadata(["a", "b"], (size, size), batch=1).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def scenes(n: int, size: int = 96) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(n):
        img = np.full((size, size, 3), 120, np.uint8)
        cv2.rectangle(img, (5 + i * 3, 10), (40 + i * 3, 60), (int(rng.integers(0, 255)), 200, 30), -1)
        cv2.circle(img, (70, 30 + i * 2), 12, (20, 20, 230), -1)
        frames.append(img)
    return frames


def test_int8_copy_is_quantized_keeps_metadata_and_stays_close(tmp_path):
    fp32 = conv_yolo(tmp_path / "m.onnx")
    frames = scenes(16)
    int8 = quantize_model(fp32, tmp_path / "m.int8.onnx", frames)
    model = onnx.load(str(int8))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    producers = {o: n for n in model.graph.node for o in n.output}
    concat = producers["output0"]
    assert concat.op_type == "Concat", f"the head Concat was quantized: output0 comes from {concat.op_type}"
    # The Concat itself is not quantized: its box and score inputs keep scales of their own
    # (a quantized Concat forces one shared scale, and every score would round to 0).
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    scales = [float(inits[producers[i].input[1]]) for i in concat.input if producers[i].op_type == "DequantizeLinear"]
    assert len(set(scales)) == len(scales), f"box and score branches share a scale: {scales}"
    assert not any(n.op_type == "QuantizeLinear" and "output0" in n.input for n in model.graph.node)
    meta = {p.key: p.value for p in model.metadata_props}
    assert "videohub_quantized" in meta and "names" in meta

    detector = OnnxYoloDetector(int8, providers=["CPUExecutionProvider"], conf=0.5)
    assert detector.labels == ["a", "b"]
    out = detector.detect(frames[:2])
    assert out[0] and max(d.score for d in out[0]) > 0.5  # scores survived quantization

    report = compare(fp32, int8, frames, conf=0.5)
    d = report["drift"]
    assert d["reference_detections"] > 0 and d["matched"] >= 0.8 * d["reference_detections"]
    assert d["mean_iou"] > 0.8 and d["mean_score_change"] < 0.1
    assert report["fp32_ms_per_frame"] > 0 and report["int8_ms_per_frame"] > 0


def test_drift_counts_matches_misses_and_extras():
    from videohub.detect.base import Detection

    ref = [[Detection("a", 0, 0.9, (0, 0, 10, 10)), Detection("b", 1, 0.8, (20, 20, 30, 30))]]
    got = [[Detection("a", 0, 0.85, (1, 0, 10, 10)), Detection("a", 0, 0.6, (50, 50, 60, 60))]]
    report = drift(ref, got)
    assert (report["matched"], report["missed"], report["extra"]) == (1, 1, 1)
    assert report["mean_iou"] == 0.9 and report["mean_score_change"] == 0.05


def test_cli_quantize_and_bad_input(tmp_path, capsys):
    fp32 = conv_yolo(tmp_path / "m.onnx")
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i, frame in enumerate(scenes(8)):
        cv2.imwrite(str(frames_dir / f"{i}.png"), frame)
    assert len(load_frames(frames_dir, 4)) == 4
    assert main(["models", "quantize", str(fp32), "--calibration", str(frames_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["int8"].endswith("m.int8.onnx") and "speedup" in report
    assert main(["models", "quantize", str(fp32), "--calibration", str(tmp_path / "nothing")]) == 2
    assert "calibration source not found" in capsys.readouterr().err
