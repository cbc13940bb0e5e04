"""Static INT8 (QDQ) copies of ONNX YOLO models, calibrated on the user's own frames, and a
report of what that costs in accuracy and gains in speed.

The recipe follows what was measured on this project's CPU: QUInt8 activations with QInt8
per-channel weights run on real int8 kernels (about 2x fp32); QInt8 activations (the
tool's default) and dynamic quantization were slower than fp32. The head's final Concat
must stay fp32: it joins box coordinates (hundreds of pixels) and class scores (0..1),
and one shared scale would round every score to 0.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videohub.detect.base import Detection, ModelError, box_iou
from videohub.detect.letterbox import BatchLetterboxer
from videohub.detect.onnx_yolo import OnnxYoloDetector

log = logging.getLogger("videohub.detect")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def load_frames(source: str | Path, limit: int = 64) -> list[np.ndarray]:
    """Up to `limit` BGR frames from a folder of images or a video file, spread evenly."""
    import cv2

    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ModelError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) to calibrate on")
        step = max(1, len(files) // limit)
        images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files[::step][:limit]]
        return [np.asarray(f) for f in images if f is not None]
    if not path.exists():
        raise ModelError(f"{path}: calibration source not found")
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = stream.frames or 0
            step = max(1, total // limit) if total else 1
            frames = []
            for i, frame in enumerate(container.decode(stream)):
                if i % step == 0:
                    frames.append(frame.to_ndarray(format="bgr24"))
                if len(frames) >= limit:
                    break
    except (av.FFmpegError, IndexError) as exc:
        raise ModelError(f"{path}: cannot read calibration video ({exc})") from None
    if not frames:
        raise ModelError(f"{path}: no frames to calibrate on")
    return frames


def _head_concats(model: Any) -> list[str]:
    """Names of the Concat nodes that produce a graph output (YOLO's box+score join)."""
    outputs = {o.name for o in model.graph.output}
    return [n.name for n in model.graph.node if n.op_type == "Concat" and set(n.output) & outputs and n.name]


def quantize_model(
    model_path: str | Path, output_path: str | Path, frames: Sequence[np.ndarray], per_channel: bool = True
) -> Path:
    """Writes a static INT8 QDQ copy of the model, calibrated on `frames` (BGR images)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = OnnxYoloDetector(model_path, providers=["CPUExecutionProvider"])
    if source.input_dtype != np.float32:
        raise ModelError(f"{model_path}: quantize an fp32 model, not {source.input_dtype}")
    if not frames:
        raise ModelError(f"{model_path}: no calibration frames")
    assert source.input_size is not None
    letterbox = BatchLetterboxer(source.input_size, np.float32)
    input_name = onnx.load(str(model_path), load_external_data=False).graph.input[0].name
    batch = source.batch_size or 1

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._iter: Iterator[dict[str, np.ndarray]] = (
                {input_name: letterbox(frames[i : i + batch], pad_to=batch)[0].copy()}
                for i in range(0, len(frames), batch)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._iter, None)

    output_path = Path(output_path)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference with symbolic dims merged lets the quantizer see every tensor.
        quant_pre_process(str(model_path), str(prepared), auto_merge=True)
        original = onnx.load(str(model_path), load_external_data=False)
        excluded = _head_concats(onnx.load(str(prepared), load_external_data=False))
        quantize_static(
            str(prepared),
            str(output_path),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
        )
    # Keep the Ultralytics metadata (names, imgsz, stride...) so the copy loads the same way.
    quantized = onnx.load(str(output_path))
    meta = {p.key: p.value for p in original.metadata_props}
    meta["videohub_quantized"] = f"static int8 QDQ (QUInt8 activations, QInt8 weights), {len(frames)} frames"
    del quantized.metadata_props[:]
    for key, value in meta.items():
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(quantized, str(output_path))
    log.info("%s: int8 copy written to %s (fp32 kept: %s)", model_path, output_path, ", ".join(excluded))
    return output_path


def drift(reference: list[list[Detection]], other: list[list[Detection]], min_iou: float = 0.5) -> dict[str, Any]:
    """How far `other`'s detections move from `reference`'s on the same frames: greedy
    same-class matching by IoU; the IoU and score change of matched boxes; misses; extras."""
    ious: list[float] = []
    score_deltas: list[float] = []
    missed = extra = total = 0
    for ref, got in zip(reference, other, strict=True):
        total += len(ref)
        unused = list(got)
        for r in sorted(ref, key=lambda d: -d.score):
            best, best_iou = None, min_iou
            for g in unused:
                if g.class_id == r.class_id and (v := box_iou(r.box, g.box)) >= best_iou:
                    best, best_iou = g, v
            if best is None:
                missed += 1
                continue
            unused.remove(best)
            ious.append(best_iou)
            score_deltas.append(abs(best.score - r.score))
        extra += len(unused)
    return {
        "reference_detections": total,
        "matched": len(ious),
        "missed": missed,
        "extra": extra,
        "mean_iou": round(statistics.fmean(ious), 4) if ious else None,
        "min_iou": round(min(ious), 4) if ious else None,
        "mean_score_change": round(statistics.fmean(score_deltas), 4) if score_deltas else None,
        "max_score_change": round(max(score_deltas), 4) if score_deltas else None,
    }


def _median_ms(detector: OnnxYoloDetector, frames: Sequence[np.ndarray], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for frame in frames:
            start = time.perf_counter()
            detector.detect([frame])
            times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def compare(
    fp32_path: str | Path, int8_path: str | Path, frames: Sequence[np.ndarray], conf: float = 0.25, repeats: int = 1
) -> dict[str, Any]:
    """Speed (median ms per frame, batch 1, pre/post-processing included) and drift of the
    INT8 copy against the fp32 model on the same frames."""
    fp32 = OnnxYoloDetector(fp32_path, providers=["CPUExecutionProvider"], conf=conf)
    int8 = OnnxYoloDetector(int8_path, providers=["CPUExecutionProvider"], conf=conf)
    ref = fp32.detect(list(frames))
    got = int8.detect(list(frames))
    fp32_ms = _median_ms(fp32, frames, repeats)
    int8_ms = _median_ms(int8, frames, repeats)
    return {
        "frames": len(frames),
        "conf": conf,
        "fp32_ms_per_frame": fp32_ms,
        "int8_ms_per_frame": int8_ms,
        "speedup": round(fp32_ms / int8_ms, 3) if int8_ms else None,
        "drift": drift(ref, got),
    }
