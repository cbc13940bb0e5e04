"""Tiny ONNX look-alikes of exported YOLO models, built with onnx.helper for the tests.

Most ignore their pixels and output a constant tensor of the layout under test, so the
boxes a detector must find are known exactly; the input still feeds the graph (through
0 * mean(image)) so the output follows the batch size. `colour_model` is the exception: its
class scores are the mean of each input channel, so different frames give different
answers (and a BGR/RGB mix-up gives the wrong colour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # ReduceMean still takes its axes as an attribute here
IR_VERSION = 8  # old enough for any onnxruntime the project supports

Dim = int | str | None


def ultralytics_metadata(
    names: Sequence[str],
    imgsz: tuple[int, int] = (640, 640),
    *,
    batch: int = 1,
    task: str = "detect",
    stride: int = 32,
    end2end: bool | None = None,
    args: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """metadata_props the way Ultralytics' exporter writes them: str() of Python values."""
    meta = {
        "description": "Ultralytics test model",
        "author": "Ultralytics",
        "version": "8.3.0",
        "stride": str(stride),
        "task": task,
        "batch": str(batch),
        "imgsz": str(list(imgsz)),
        "names": str(dict(enumerate(names))),
    }
    if args is not None:
        meta["args"] = str(dict(args))
    if end2end is not None:
        meta["end2end"] = str(end2end)
    return meta


def _save(graph: onnx.GraphProto, path: Path, metadata: Mapping[str, str] | None, check: bool = True) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    for key, value in (metadata or {}).items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    if check:  # the checker insists on declared output shapes, which one test leaves out on purpose
        onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def constant_model(
    path: Path,
    outputs: np.ndarray | Sequence[np.ndarray],
    *,
    metadata: Mapping[str, str] | None = None,
    input_hw: tuple[Dim, Dim] = (640, 640),
    batch: Dim = 1,
    fp16: bool = False,
    declared: Sequence[Sequence[Dim] | None] | None = None,
) -> Path:
    """A model with input "images" [batch, 3, H, W] whose outputs are the given arrays
    (each without its batch axis, repeated for every image of the batch).

    batch / input_hw: an int for a static axis, a str for a symbolic (dynamic) one.
    declared: per output, the dims (without batch) to declare, str for symbolic ones, or
    None to declare no shape at all; default: the arrays' shapes."""
    arrays = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    np_type = np.float16 if fp16 else np.float32
    images = helper.make_tensor_value_info("images", elem, [batch, 3, *input_hw])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),  # [B, 1, 1, 1] of zeros
    ]
    inits = [numpy_helper.from_array(np.zeros((), np_type), "zero")]
    graph_outputs = []
    for i, array in enumerate(arrays):
        name = f"output{i}"
        rank = array.ndim + 1
        inits.append(numpy_helper.from_array(np.array([-1] + [1] * array.ndim, np.int64), f"shape{i}"))
        inits.append(numpy_helper.from_array(array.astype(np_type)[None], f"value{i}"))
        nodes.append(helper.make_node("Reshape", ["nothing", f"shape{i}"], [f"zeros{i}"]))  # [B, 1, ...]
        nodes.append(helper.make_node("Add", [f"zeros{i}", f"value{i}"], [name]))
        dims = declared[i] if declared is not None else list(array.shape)
        shape = None if dims is None else [batch, *dims]
        graph_outputs.append(helper.make_tensor_value_info(name, elem, shape))
        assert shape is None or len(shape) == rank
    graph = helper.make_graph(nodes, "constant_yolo", [images], graph_outputs, initializer=inits)
    return _save(graph, path, metadata, check=declared is None or all(d is not None for d in declared))


def colour_model(
    path: Path,
    *,
    box_xywh: tuple[float, float, float, float] = (32.0, 32.0, 40.0, 40.0),
    input_hw: tuple[int, int] = (64, 64),
    batch: Dim = "batch",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A YOLOv8-layout model with one candidate box (fixed) and three classes whose scores are
    the mean of the R, G and B input planes: a red frame is "red", a blue one "blue"."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *input_hw])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 7, 1])
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array(box_xywh, np.float32).reshape(1, 4, 1), "box"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["planes"], axes=[2, 3], keepdims=0),  # [B, 3]
        helper.make_node("Unsqueeze", ["planes", "axis2"], ["scores"]),  # [B, 3, 1]
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "shape3"], ["zeros"]),  # [B, 1, 1]
        helper.make_node("Add", ["zeros", "box"], ["boxes"]),  # [B, 4, 1]
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),  # [B, 7, 1]
    ]
    graph = helper.make_graph(nodes, "colour_yolo", [images], [out], initializer=inits)
    meta = (
        dict(metadata)
        if metadata is not None
        else ultralytics_metadata(["red", "green", "blue"], input_hw, batch=batch if isinstance(batch, int) else 1)
    )
    return _save(graph, path, meta)


# --- outputs with known boxes, in model-input pixels ---------------------------------------


def v8_output(
    boxes_xywh: Sequence[Sequence[float]], classes: Sequence[int], scores: Sequence[float], nc: int, anchors: int
) -> np.ndarray:
    """[4 + nc, anchors]: the given boxes in the first columns, zeros elsewhere."""
    out = np.zeros((4 + nc, anchors), np.float32)
    for j, (box, c, s) in enumerate(zip(boxes_xywh, classes, scores, strict=True)):
        out[:4, j] = box
        out[4 + c, j] = s
    return out


def v5_output(
    boxes_xywh: Sequence[Sequence[float]],
    classes: Sequence[int],
    objectness: Sequence[float],
    class_scores: Sequence[float],
    nc: int,
    anchors: int,
) -> np.ndarray:
    """[anchors, 5 + nc]: rows of cx, cy, w, h, objectness, class scores."""
    out = np.zeros((anchors, 5 + nc), np.float32)
    for j, (box, c, o, s) in enumerate(zip(boxes_xywh, classes, objectness, class_scores, strict=True)):
        out[j, :4] = box
        out[j, 4] = o
        out[j, 5 + c] = s
    return out


def e2e_output(rows: Sequence[Sequence[float]], max_det: int = 300) -> np.ndarray:
    """[max_det, 6]: rows of x1, y1, x2, y2, score, class, zero-padded like a real export."""
    out = np.zeros((max_det, 6), np.float32)
    for j, row in enumerate(rows):
        out[j] = row
    return out


def opaque_shape_model(path: Path, output: np.ndarray, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Like constant_model (static batch 1, 640x640) but the output's shape is computed from
    the pixels at run time, so neither the file nor onnxruntime's shape inference knows it:
    only running the model tells its layout."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["a", "b", "c"])
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.array([1, *output.shape], np.float32), "dims"),
        numpy_helper.from_array(output.astype(np.float32).reshape(-1), "flat"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[0, 1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "dims"], ["dims_f"]),  # [1, d1, d2], but data-dependent
        helper.make_node("Cast", ["dims_f"], ["dims_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["flat", "dims_i"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "opaque_yolo", [images], [out], initializer=inits)
    return _save(graph, path, metadata)
