"""`OnnxYoloDetector`: any Ultralytics-exported YOLO detection model, on onnxruntime.

The model describes itself: its layout (YOLOv5, YOLOv8/11, end-to-end) is recognised from
its output shape and metadata, its class names, input size and stride come from the
metadata Ultralytics writes, its batch axis and float type from its input. Constructor
arguments (names, imgsz) fill in for models that carry no metadata.

Per call: letterbox the frames into a reused buffer (see letterbox.py), run the session
once per batch (in chunks of the batch size for a static-batch model), decode and NMS in
numpy (see yolo.py), map boxes back to each frame's pixels.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from videohub.detect.base import Detection, ModelError
from videohub.detect.letterbox import BatchLetterboxer, Letterbox
from videohub.detect.metadata import (
    MetadataError,
    ModelMetadata,
    labels_from_names,
    parse_imgsz,
    parse_metadata,
    parse_names,
)
from videohub.detect.providers import (
    CPU,
    ProviderSpec,
    provider_name,
    select_providers,
    session_options,
    session_provider,
)
from videohub.detect.yolo import Boxes, Layout, LayoutError, postprocess, recognise_layout

log = logging.getLogger("videohub.detect")

DEFAULT_IMGSZ = (640, 640)  # for models whose input size is dynamic and unstated
DEFAULT_STRIDE = 32
_DTYPES: dict[str, np.dtype[Any]] = {"tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16)}

Names = Sequence[str] | Mapping[int, str]
Dim = int | None


def _dim(d: object) -> Dim:
    """A static dimension, or None for a symbolic / unknown one."""
    return d if isinstance(d, int) and not isinstance(d, bool) and d > 0 else None


def _shape_text(shape: Sequence[object] | None) -> str:
    if shape is None:
        return "[unknown]"
    return "[" + ", ".join(str(d) if _dim(d) else (d if isinstance(d, str) and d else "?") for d in shape) + "]"


def _first_line(e: BaseException, limit: int = 300) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def check_thresholds(conf: float, iou: float, max_det: int) -> None:
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must be within [0, 1], not {conf}")
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"iou must be within [0, 1], not {iou}")
    if isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1:
        raise ValueError(f"max_det must be a positive integer, not {max_det!r}")


@dataclass(frozen=True, slots=True)
class _Model:
    """Everything known about a loaded model; shared by the detector and inspect_model."""

    path: Path
    session: ort.InferenceSession
    input_name: str
    output_name: str
    input_size: tuple[int, int]  # (height, width) frames are letterboxed to
    input_size_from: str  # "model", "argument", "metadata" or "default"
    input_dtype: np.dtype
    batch: int | None  # static batch size; None = dynamic
    output_shape: tuple[Dim, ...]  # as declared (None = dynamic), or as probed
    layout: Layout
    nc: int | None  # None only for an end-to-end model without names
    labels: list[str]
    metadata: ModelMetadata


def _input_size(
    path: Path, shape: Sequence[object], meta: ModelMetadata, imgsz: int | Sequence[int] | None
) -> tuple[tuple[int, int], str]:
    fixed_h, fixed_w = _dim(shape[2]), _dim(shape[3])
    try:
        asked = parse_imgsz(imgsz, "imgsz argument") if imgsz is not None else None
    except MetadataError as e:
        raise ValueError(str(e)) from e
    if fixed_h and fixed_w:
        if asked is not None and asked != (fixed_h, fixed_w):
            raise ModelError(
                f"{path}: the model's input is fixed at {fixed_h}x{fixed_w} (HxW); imgsz={list(asked)} cannot apply"
            )
        return (fixed_h, fixed_w), "model"
    # A dynamic input size: use what we are told, else what the export used, else 640.
    if asked is not None:
        size, source = asked, "argument"
    elif meta.imgsz is not None:
        size, source = meta.imgsz, "metadata"
    else:
        size, source = DEFAULT_IMGSZ, "default"
    stride = meta.stride or DEFAULT_STRIDE
    # Like Ultralytics' check_imgsz: a size the strides do not divide would not run (or would
    # misalign the feature maps), so round up to a multiple of the stride.
    h = fixed_h or math.ceil(size[0] / stride) * stride
    w = fixed_w or math.ceil(size[1] / stride) * stride
    if (h, w) != size:
        log.info("%s: input size %dx%d rounded to %dx%d (stride %d / fixed axes)", path, *size, h, w, stride)
    return (h, w), source


def _open_model(
    path: Path,
    *,
    names: Names | None,
    imgsz: int | Sequence[int] | None,
    providers: Sequence[ProviderSpec],
    threads: int | None,
    spin: bool,
) -> _Model:
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    opts = session_options(threads, spin)
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
    except Exception as e:  # onnxruntime raises its own (pybind) exception types for bad files
        raise ModelError(f"{path}: not a loadable ONNX model ({_first_line(e)})") from e

    props = dict(session.get_modelmeta().custom_metadata_map)
    if names is not None:
        props.pop("names", None)  # the caller's names replace the model's, even malformed ones
    try:
        meta = parse_metadata(props)
    except MetadataError as e:
        raise ModelError(f"{path}: {e}") from e
    if meta.task is not None and meta.task != "detect":
        raise ModelError(
            f"{path}: an Ultralytics {meta.task!r} model (metadata task); only 'detect' models are supported"
        )

    inputs = session.get_inputs()
    if len(inputs) != 1:
        listed = ", ".join(f"{i.name} {_shape_text(i.shape)}" for i in inputs)
        raise ModelError(f"{path}: {len(inputs)} inputs ({listed}); a YOLO detection model has one image input")
    inp = inputs[0]
    in_shape = inp.shape if isinstance(inp.shape, list) else None
    if in_shape is None or len(in_shape) != 4 or _dim(in_shape[1]) not in (None, 3):
        raise ModelError(f"{path}: input {inp.name!r} is {_shape_text(in_shape)}, not an image batch [B, 3, H, W]")
    dtype = _DTYPES.get(inp.type)
    if dtype is None:
        raise ModelError(f"{path}: input {inp.name!r} is {inp.type}; expected float32 or float16")

    outputs = session.get_outputs()
    if len(outputs) != 1:
        listed = ", ".join(f"{o.name} {_shape_text(o.shape)}" for o in outputs)
        hint = " (boxes plus mask prototypes: a segmentation model?)" if len(outputs) == 2 else ""
        raise ModelError(f"{path}: {len(outputs)} outputs ({listed}){hint}; a detection model has one")
    out = outputs[0]

    if names is not None:
        try:
            name_map: dict[int, str] | None = parse_names(names, "names argument")
        except MetadataError as e:
            raise ValueError(str(e)) from e
    else:
        name_map = meta.names
    labels = labels_from_names(name_map) if name_map else []
    nc = len(labels) if labels else None

    input_size, size_from = _input_size(path, in_shape, meta, imgsz)
    batch = _dim(in_shape[0])

    out_shape: tuple[Dim, ...] | None = (
        tuple(_dim(d) for d in out.shape) if isinstance(out.shape, list) and out.shape else None
    )
    if out_shape is None or (len(out_shape) == 3 and out_shape[1] is None and out_shape[2] is None):
        # Nothing to read the layout from: run once on a blank image and look at the result.
        probe = np.zeros((batch or 1, 3, *input_size), dtype)
        try:
            result = session.run([out.name], {inp.name: probe})[0]
        except Exception as e:
            raise ModelError(f"{path}: test run at {input_size[0]}x{input_size[1]} failed ({_first_line(e)})") from e
        out_shape = tuple(int(d) for d in np.shape(result))
    try:
        layout, nc = recognise_layout(out_shape, nc, meta.end2end, input_size)
    except LayoutError as e:
        source = "names argument" if names is not None else "metadata names" if meta.names else "no names"
        raise ModelError(f"{path}: {e} ({source}); not a YOLO detection model?") from e
    if not labels and nc is not None:
        labels = [f"class{i}" for i in range(nc)]

    return _Model(
        path=path,
        session=session,
        input_name=inp.name,
        output_name=out.name,
        input_size=input_size,
        input_size_from=size_from,
        input_dtype=dtype,
        batch=batch,
        output_shape=out_shape,
        layout=layout,
        nc=nc,
        labels=labels,
        metadata=meta,
    )


def _describe(model: _Model, provider: str) -> dict[str, Any]:
    """A JSON-ready summary: for `videohub models inspect` and GET /api/v1/models."""
    meta = model.metadata
    return {
        "path": str(model.path),
        "name": model.path.stem,
        "layout": model.layout.value,
        "task": meta.task or "detect",
        "end2end": model.layout is Layout.END2END,
        "num_classes": model.nc if model.nc is not None else len(model.labels),
        "names": list(model.labels),
        "input_name": model.input_name,
        "input_size": list(model.input_size),
        "input_size_from": model.input_size_from,
        "input_dtype": model.input_dtype.name,
        "batch": model.batch,  # None: dynamic
        "dynamic_batch": model.batch is None,
        "output_shape": list(model.output_shape),  # None where dynamic
        "stride": meta.stride,
        "provider": provider,
        "metadata": {k: meta.raw[k] for k in ("description", "author", "version", "date", "license") if k in meta.raw},
    }


class OnnxYoloDetector:
    """A YOLO detection model exported to ONNX (Ultralytics or the YOLOv5 repository).

    path: the .onnx file. names: class names (list, or dict id -> name) for models without
    them in their metadata (they override the metadata if given). imgsz: input size (int or
    (h, w)) for models with a dynamic input size. conf / iou / max_det: defaults for detect().
    providers: execution providers in order of preference (names or (name, options)); the
    CPU is always the last resort. threads: onnxruntime intra-op threads (None: its default).
    spin: let onnxruntime's threads busy-wait (faster alone, worse on a shared machine).
    scaleup: letterbox may enlarge small frames (Ultralytics' default). name: the detector's
    name (default: the file's stem).

    Thread-safe: detect() may be called from several threads (each gets its own buffers).
    Raises ModelError naming the file when the file is missing, unreadable or not a
    detection model.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        names: Names | None = None,
        imgsz: int | Sequence[int] | None = None,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        providers: Sequence[ProviderSpec] | None = None,
        threads: int | None = None,
        spin: bool = False,
        scaleup: bool = True,
        name: str | None = None,
    ) -> None:
        check_thresholds(conf, iou, max_det)
        self.path = Path(path)
        chosen = select_providers(providers, what=str(self.path))
        self._model = _open_model(self.path, names=names, imgsz=imgsz, providers=chosen, threads=threads, spin=spin)
        self.name: str = name or self.path.stem
        self.labels: list[str] = list(self._model.labels)
        self.input_size: tuple[int, int] | None = self._model.input_size
        self.provider: str = session_provider(self._model.session)
        if self.provider != provider_name(chosen[0]):
            log.warning(
                "%s: asked for %s, but onnxruntime runs the model on %s",
                self.path,
                provider_name(chosen[0]),
                self.provider,
            )
        self.layout: Layout = self._model.layout
        self.batch_size: int | None = self._model.batch  # static batch size; None = dynamic
        self.input_dtype: np.dtype = self._model.input_dtype
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.scaleup = scaleup
        self._local = threading.local()
        log.info(
            "%s: %s model, %d classes, input %dx%d %s, batch %s, on %s",
            self.path,
            self.layout.value,
            len(self.labels),
            *self._model.input_size,
            self.input_dtype.name,
            self.batch_size or "dynamic",
            self.provider,
        )

    def __repr__(self) -> str:
        return f"OnnxYoloDetector({str(self.path)!r}, layout={self.layout.value}, provider={self.provider})"

    def describe(self) -> dict[str, Any]:
        """What inspect_model() says, for the model as loaded (with its actual provider)."""
        return _describe(self._model, self.provider)

    def _letterboxer(self) -> BatchLetterboxer:
        lb: BatchLetterboxer | None = getattr(self._local, "letterboxer", None)
        if lb is None:
            lb = BatchLetterboxer(self._model.input_size, self._model.input_dtype, self.scaleup)
            self._local.letterboxer = lb
        return lb

    def detect(
        self,
        images: Sequence[np.ndarray],
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
    ) -> list[list[Detection]]:
        """One list of detections per HxWx3 uint8 BGR image, in order, best score first.

        conf / iou / max_det override the detector's defaults for this call (one camera may
        want a stricter threshold than another). Boxes are in each image's own pixels."""
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        max_det = self.max_det if max_det is None else max_det
        check_thresholds(conf, iou, max_det)
        n = len(images)
        if n == 0:
            return []
        model = self._model
        letterboxer = self._letterboxer()
        # A dynamic batch axis takes everything in one run; a static one in chunks of its size
        # (the last chunk padded with stale slots whose outputs are ignored).
        step = model.batch or n
        results: list[list[Detection]] = []
        for start in range(0, n, step):
            chunk = images[start : start + step]
            blob, boxes = letterboxer(chunk, pad_to=model.batch)
            try:
                raw = model.session.run([model.output_name], {model.input_name: blob})[0]
            except Exception as e:  # onnxruntime's own exception types
                raise ModelError(f"{self.path}: inference failed ({_first_line(e)})") from e
            out = self._check_output(np.asarray(raw), len(chunk))
            for i, geometry in enumerate(boxes):
                found = postprocess(model.layout, out[i], conf, iou, max_det)
                results.append(self._detections(found, geometry))
        return results

    def _check_output(self, out: np.ndarray, n: int) -> np.ndarray:
        model = self._model
        expected: tuple[int, int] | None = None  # (axis, size) the layout fixes
        if model.layout is Layout.YOLOV8 and model.nc is not None:
            expected = (1, 4 + model.nc)
        elif model.layout is Layout.YOLOV5 and model.nc is not None:
            expected = (2, 5 + model.nc)
        elif model.layout is Layout.END2END:
            expected = (2, 6)
        if out.ndim != 3 or out.shape[0] < n or (expected and out.shape[expected[0]] != expected[1]):
            raise ModelError(
                f"{self.path}: output shape {list(out.shape)} does not match its {model.layout.value} layout "
                f"for a batch of {n}"
            )
        # Decode in float32 whatever the model computes in: fp16 scores lose ties and NMS precision.
        return out.astype(np.float32, copy=False)

    def _detections(self, found: Boxes, geometry: Letterbox) -> list[Detection]:
        if len(found) == 0:
            return []
        xyxy = geometry.to_source(found.xyxy.astype(np.float64))
        labels = self.labels
        n_labels = len(labels)
        # The one per-box loop left: building the contract's Detection objects.
        # Positional arguments: a frozen dataclass's keyword __init__ costs a third more, which
        # shows on an output crowded with 300 boxes.
        return [
            Detection(labels[c] if 0 <= c < n_labels else f"class{c}", c, s, (x1, y1, x2, y2))
            for (x1, y1, x2, y2), s, c in zip(xyxy.tolist(), found.scores.tolist(), found.classes.tolist(), strict=True)
        ]


def inspect_model(
    path: str | PathLike[str],
    *,
    names: Names | None = None,
    imgsz: int | Sequence[int] | None = None,
    providers: Sequence[ProviderSpec] | None = None,
) -> dict[str, Any]:
    """Describes a model without keeping it loaded: layout, names, input size, batch
    (static / dynamic), dtype, task, and the provider a detector would use here.

    Opens the model on the CPU only (cheap, no GPU memory taken); the provider reported is the
    first of `providers` (default: TensorRT, CUDA, OpenVINO, CPU) this onnxruntime has.
    Raises ModelError like the detector does."""
    p = Path(path)
    model = _open_model(p, names=names, imgsz=imgsz, providers=[CPU], threads=1, spin=False)
    return _describe(model, provider_name(select_providers(providers, what=str(p))[0]))
