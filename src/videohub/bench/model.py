"""Model benchmark: how close the hub's detector comes to the model's own limit, and to Ultralytics.

For each batch size (1, 2, 4, 8 by default) and one ONNX YOLO model it measures, in one run:

(a) bare `session.run` on a ready input tensor: the most this model can do on this machine
    with these onnxruntime settings (same execution provider, intra-op threads and spinning
    as the detector's);
(b) the hub's `OnnxYoloDetector.detect()` on real decoded frames: letterbox, the same
    session run, decoding, NMS and the mapping back to frame pixels included;
(c) Ultralytics' `predict` on the same ONNX file and the same frames, when a Python with
    Ultralytics is at hand (it runs in a child process; see common.py). Otherwise the
    comparison is marked "not installed".

Frames come from a CCTV-like H.264 clip encoded with PyAV (the ingest benchmark's) and decoded
to BGR before any timing. For every batch size the three are timed in interleaved rounds
(a b c, b c a, c a b, ...), so load from other processes on a shared machine spreads over all
three instead of biasing one; per-round figures are kept to show the spread.

A model with a static batch size runs only that batch size, except batch-1 models, which run
every batch size frame by frame (marked `frame_by_frame`): that is what the hub does with them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import av
import numpy as np
import onnxruntime as ort

from videohub.bench import ingest
from videohub.bench.common import (
    CpuSample,
    cpu_between,
    find_ultralytics_python,
    finish_machine_info,
    fmt,
    machine_info,
    measure_and_report,
    parse_hw,
    parse_int_list,
    parse_resolution,
    ratio,
    script_main,
    summarize_ms,
    worker_env,
)
from videohub.bench.timing import Block, time_calls
from videohub.detect.base import ModelError
from videohub.detect.letterbox import BatchLetterboxer
from videohub.detect.onnx_yolo import OnnxYoloDetector
from videohub.detect.providers import select_providers, session_options, session_provider

DEFAULT_OUT = Path("benchmarks/results/model.json")
METHODS = ("bare", "detector", "ultralytics")
LABELS = {"bare": "(a) session.run", "detector": "(b) hub detector", "ultralytics": "(c) Ultralytics"}
GOAL_DETECTOR_OVER_BARE = 0.9  # the goal: (b) within 10 % of (a)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Params:
    """What to measure and how long to spend on it."""

    model: str = ""
    batches: tuple[int, ...] = (1, 2, 4, 8)
    seconds: float = 8.0  # timed seconds per batch size and method, split over the rounds
    rounds: int = 4
    warmup_s: float = 1.0  # untimed calls per batch size and method before the rounds
    min_calls: int = 3  # per timed block, however slow the model
    frames: int = 32  # decoded frames cycled through
    resolution: str = "720p"  # of the source frames
    source: str = "cctv"  # cctv texture or the street scene (see FRAME_SOURCES)
    imgsz: str | None = None  # input size for dynamic-size models: N or HxW
    threads: int | None = None  # onnxruntime intra-op threads for (a) and (b); None: its default
    spin: bool = False  # onnxruntime busy-waiting for (a) and (b) (the hub's default: off)
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    compare: str = "auto"  # auto: Ultralytics when installed; ultralytics: required; none
    ultralytics_python: str | None = None
    quick: bool = False

    @classmethod
    def quick_params(cls, **kw: Any) -> Params:
        """A smoke run of a few seconds: small frames, batch sizes 1 and 2, short blocks."""
        return cls(
            batches=(1, 2),
            seconds=0.3,
            rounds=1,
            warmup_s=0.05,
            min_calls=2,
            frames=4,
            resolution="320x240",
            quick=True,
            **kw,
        )

    def validate(self) -> None:
        if not self.model:
            raise ValueError("--model is required")
        if not Path(self.model).is_file():
            raise ValueError(f"{self.model}: no such model file")
        if not self.batches or min(self.batches) < 1:
            raise ValueError("batch sizes must be positive")
        if self.seconds <= 0 or self.warmup_s < 0:
            raise ValueError("seconds must be positive and warmup not negative")
        if self.rounds < 1 or self.min_calls < 1 or self.frames < 1:
            raise ValueError("rounds, min_calls and frames must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.compare not in ("auto", "ultralytics", "none"):
            raise ValueError(f"--compare {self.compare!r}: expected auto, ultralytics or none")
        parse_resolution(self.resolution)
        if self.imgsz is not None:
            parse_hw(self.imgsz)


# --------------------------------------------------------------------------- frames


FRAME_SOURCES = {
    "cctv": "ingest benchmark's CCTV-like H.264 (dense texture and noise)",
    "scene": "the demo's street scene H.264 (walkers, a burning window)",
    "objects": "H.264 of street scenes with figures, cars and shapes, from the renderer the export calibrated on "
    "(another seed and other frames)",
}
OBJECTS_SEED = 123  # not the export's calibration seed (0): frames the model was not calibrated on


def decoded_frames(
    count: int, resolution: str, workdir: Path, source: str = "cctv"
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """`count` BGR frames of a clip encoded and decoded with PyAV: the ingest benchmark's
    CCTV-like texture, the demo's street scene, or the calibration renderer's streets.

    The export's untrained model reacts to global picture statistics: on the texture and on
    the demo scene it fills its 300-box cap (1,600 and 900 candidates above conf 0.25), which
    makes post-processing far heavier than a trained model's; on `objects`, scenes like the
    ones its class bias was set on, it keeps 15-50 boxes a frame, the output size of a
    trained model on a busy street."""
    width, height = parse_resolution(resolution)
    if source == "objects":
        from videohub.bench.cameras import encode_clip
        from videohub.detect.calibrate import SceneRenderer

        renderer = SceneRenderer(width, height, seed=OBJECTS_SEED)
        images = (renderer.render(k * 7) for k in range(count))
        path = encode_clip(workdir / "frames.mp4", images, width, height, ingest.FPS)
    elif source == "scene":
        from videohub.bench.cameras import make_camera_clip

        path = make_camera_clip(workdir / "frames.mp4", width, height, ingest.FPS, count / ingest.FPS)
    else:
        res = ingest.Resolution(f"{width}x{height}", width, height, max(300, width * height * 3 // 1000), "main")
        path = ingest.make_clip(res, count / ingest.FPS, workdir / "frames.mp4")
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24", threads=1))
            if len(frames) >= count:
                break
    info = {"width": width, "height": height, "frames": len(frames), "clip": FRAME_SOURCES[source]}
    return frames, info


# --------------------------------------------------------------------------- Ultralytics child


class UltralyticsWorker:
    """The child process running Ultralytics' predict (videohub.bench.ultralytics_worker predict)."""

    def __init__(self, python: str, stderr_path: Path) -> None:
        self._stderr = stderr_path.open("w")
        self.proc = subprocess.Popen(
            [python, "-m", "videohub.bench.ultralytics_worker", "predict"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=worker_env(),
        )
        self.stderr_path = stderr_path

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(req) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError as exc:
            raise RuntimeError(f"Ultralytics worker died ({exc}); {self.stderr_tail()}") from exc
        if not line:
            raise RuntimeError(f"Ultralytics worker exited; {self.stderr_tail()}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(str(reply.get("error")))
        return reply

    def stderr_tail(self, chars: int = 400) -> str:
        self._stderr.flush()
        try:
            text = self.stderr_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return "stderr: ..." + text[-chars:] if text else "no stderr"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.request({"op": "quit"})
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._stderr.close()


# --------------------------------------------------------------------------- measuring


@dataclass
class _Plan:
    batch: int
    mode: str  # "batched" or "frame_by_frame"


def plan_batches(requested: Sequence[int], static_batch: int | None) -> tuple[list[_Plan], list[dict[str, Any]]]:
    """Which batch sizes to run, and how; and those skipped, with the reason."""
    if static_batch is None:
        return [_Plan(b, "batched") for b in requested], []
    if static_batch == 1:
        return [_Plan(b, "batched" if b == 1 else "frame_by_frame") for b in requested], []
    skipped = [
        {"batch": b, "reason": f"the model's batch size is fixed at {static_batch}"}
        for b in requested
        if b != static_batch
    ]
    return [_Plan(static_batch, "batched")], skipped


def _sig(value: float | None, digits: int = 5) -> float | None:
    """Rounded to significant digits: a tiny test model's 0.007 ms must not become 0.0."""
    return None if value is None else float(f"{value:.{digits}g}")


def _median(values: Sequence[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return round(known[len(known) // 2], 2) if known else None


def _aggregate(blocks: list[Block], input_shape: list[int] | None) -> dict[str, Any]:
    frames = sum(b.frames for b in blocks)
    wall = sum(b.wall_s for b in blocks)
    cpu = sum(b.cpu_s for b in blocks)
    fps = frames / wall if wall > 0 else None
    latencies = [v for b in blocks for v in b.latencies_s]
    return {
        "input_shape": input_shape,
        "calls": len(latencies),
        "frames": frames,
        "wall_s": round(wall, 4),
        "fps": _sig(fps),
        "ms_per_frame": _sig(1000.0 / fps) if fps else None,
        "latency_ms": summarize_ms(latencies),  # per call, i.e. per batch
        "cpu_cores": round(cpu / wall, 3) if wall > 0 else None,
        "rounds_fps": [_sig(b.frames / b.wall_s) if b.wall_s > 0 else None for b in blocks],
    }


def measure(params: Params, workdir: Path | None = None, log: Log | None = None) -> dict[str, Any]:
    """Run every batch size x method and return the JSON-ready result. Raises ModelError for a
    model the detector cannot use."""
    params.validate()
    say: Log = log or (lambda _msg: None)
    machine = machine_info()
    started = time.perf_counter()
    imgsz = parse_hw(params.imgsz) if params.imgsz else None
    detector = OnnxYoloDetector(
        params.model,
        imgsz=imgsz,
        threads=params.threads,
        spin=params.spin,
        conf=params.conf,
        iou=params.iou,
        max_det=params.max_det,
    )
    # (a) gets a session of its own, opened exactly as the detector opens its one.
    session = ort.InferenceSession(
        params.model,
        sess_options=session_options(params.threads, params.spin),
        providers=select_providers(None, what=params.model),
    )
    h, w = detector.input_size or (640, 640)
    plans, skipped = plan_batches(params.batches, detector.batch_size)

    where = find_ultralytics_python(params.ultralytics_python, enabled=params.compare != "none")
    if params.compare == "ultralytics" and where.python is None:
        raise ValueError(f"--compare ultralytics: Ultralytics {where.status} ({where.detail})")

    result: dict[str, Any] = {
        "benchmark": "model",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "params": {
            **asdict(params),
            "intra_op_threads": params.threads or "onnxruntime default",
            "session_provider": session_provider(session),
            "timing": (
                f"{params.rounds} interleaved rounds of {params.seconds / params.rounds:g} s "
                f"(at least {params.min_calls} calls) per batch size and method, after {params.warmup_s:g} s warm-up"
            ),
        },
        "model": detector.describe(),
        "source": {},
        "ultralytics": where.to_json(),
        "results": [],
        "skipped_batches": skipped,
    }
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        say(f"encoding and decoding {params.frames} {params.resolution} frames ...")
        frames, result["source"] = decoded_frames(params.frames, params.resolution, Path(tmp), params.source)
        worker: UltralyticsWorker | None = None
        if where.python is not None:
            say(f"starting Ultralytics in {where.python} ...")
            np.save(Path(tmp) / "frames.npy", np.stack(frames))
            worker = UltralyticsWorker(where.python, Path(tmp) / "ultralytics.log")
            try:
                loaded = worker.request(
                    {
                        "op": "load",
                        "model": str(Path(params.model).resolve()),
                        "frames": str(Path(tmp) / "frames.npy"),
                        "imgsz": [h, w],
                        "conf": params.conf,
                        "iou": params.iou,
                        "max_det": params.max_det,
                    }
                )
                result["ultralytics"]["versions"] = loaded["versions"]
            except (RuntimeError, ValueError) as exc:
                result["ultralytics"].update(status="error", detail=str(exc))
                worker.close()
                worker = None
        try:
            for plan in plans:
                say(f"batch {plan.batch} ({plan.mode}) ...")
                result["results"].append(_measure_batch(params, plan, detector, session, frames, worker, result))
        finally:
            if worker is not None:
                worker.close()
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    finish_machine_info(machine)
    return result


def _measure_batch(
    params: Params,
    plan: _Plan,
    detector: OnnxYoloDetector,
    session: ort.InferenceSession,
    frames: list[np.ndarray],
    worker: UltralyticsWorker | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    b, n = plan.batch, len(frames)
    h, w = detector.input_size or (640, 640)
    input_name, output_name = session.get_inputs()[0].name, session.get_outputs()[0].name
    run_size = 1 if plan.mode == "frame_by_frame" else b
    # (a)'s ready tensor: the real frames, letterboxed once, outside the timing.
    letterboxer = BatchLetterboxer((h, w), detector.input_dtype)
    chunks = [
        letterboxer([frames[(k + j) % n] for j in range(run_size)], pad_to=detector.batch_size)[0].copy()
        for k in range(0, b, run_size)
    ]

    def bare(_i: int) -> int:
        for blob in chunks:
            session.run([output_name], {input_name: blob})
        return b

    def detect(i: int) -> int:
        batch = [frames[(i * b + j) % n] for j in range(b)]
        return len(detector.detect(batch))

    local: dict[str, Callable[[int], int]] = {"bare": bare, "detector": detect}
    methods = [m for m in METHODS if m in local or worker is not None]
    blocks: dict[str, list[Block]] = {m: [] for m in methods}
    ul_shape: list[int] | None = None
    ul_error: str | None = None
    ul_stages: list[dict[str, float | None]] = []
    ul_threads: int | None = None

    def block(method: str, seconds: float, min_calls: int) -> Block | None:
        nonlocal ul_shape, ul_error, ul_threads
        if method in local:
            return time_calls(local[method], seconds, min_calls)
        if worker is None or ul_error is not None:
            return None
        try:
            reply = worker.request(
                {"op": "run", "batch": b, "seconds": seconds, "min_calls": min_calls, "offset": len(blocks[method]) * b}
            )
        except RuntimeError as exc:
            ul_error = str(exc)
            return None
        ul_shape = [int(v) for v in reply["input_shape"]]
        ul_stages.append(reply.get("stage_ms_per_image") or {})
        ul_threads = reply.get("torch_threads")
        return Block.from_json(reply)

    pids = [worker.proc.pid] if worker is not None else []
    for m in methods:  # warm-up: first runs at a new shape plan memory and fill caches
        block(m, params.warmup_s, 2 if not params.quick else 1)
    cpu0 = CpuSample.take(pids)
    per_round = params.seconds / params.rounds
    for r in range(params.rounds):
        order = methods[r % len(methods) :] + methods[: r % len(methods)]
        for m in order:
            done = block(m, per_round, params.min_calls)
            if done is not None:
                blocks[m].append(done)
    load = cpu_between(cpu0, CpuSample.take(pids))

    tensor = [run_size, 3, h, w]
    entry: dict[str, Any] = {"batch": b, "mode": plan.mode}
    entry["bare"] = _aggregate(blocks["bare"], tensor)
    entry["detector"] = _aggregate(blocks["detector"], tensor)
    if worker is not None:
        entry["ultralytics"] = _aggregate(blocks["ultralytics"], ul_shape) if blocks["ultralytics"] else None
        if entry["ultralytics"] is not None:
            # Ultralytics' own per-image stage times (Results.speed), median over the timed blocks:
            # they show where its time goes (its NMS is in `postprocess`).
            timed = ul_stages[-len(blocks["ultralytics"]) :]
            entry["ultralytics"]["stage_ms_per_image"] = {
                k: _median([t.get(k) for t in timed]) for k in ("preprocess", "inference", "postprocess")
            }
            entry["ultralytics"]["torch_threads"] = ul_threads
        if ul_error is not None:
            entry["ultralytics_error"] = ul_error
    else:
        entry["ultralytics"] = None
    a_fps, b_fps = entry["bare"]["fps"], entry["detector"]["fps"]
    c = entry["ultralytics"]
    c_fps = c["fps"] if c else None
    over_bare = ratio(b_fps, a_fps)
    entry["ratios"] = {
        "detector_over_bare_fps": over_bare,
        "detector_over_ultralytics_fps": ratio(b_fps, c_fps),
        "detector_over_bare_latency_p50": ratio(
            entry["detector"]["latency_ms"]["p50"], entry["bare"]["latency_ms"]["p50"]
        ),
        "detector_over_ultralytics_latency_p50": ratio(
            entry["detector"]["latency_ms"]["p50"], c["latency_ms"]["p50"] if c else None
        ),
    }
    entry["same_input_shape_as_ultralytics"] = None if not c else (c["input_shape"] or [])[1:] == tensor[1:]
    entry["goal_detector_within_10pct_of_bare"] = None if over_bare is None else over_bare >= GOAL_DETECTOR_OVER_BARE
    entry["other_load_cores"] = load["other_load_cores"]
    return entry


# --------------------------------------------------------------------------- output


def _shape(shape: list[int] | None) -> str:
    return "x".join(str(v) for v in shape) if shape else "-"


def format_table(result: dict[str, Any]) -> str:
    m, model, p, ul = result["machine"], result["model"], result["params"], result["ultralytics"]
    threads = p["threads"] or "default"
    batch = "dynamic batch" if model["dynamic_batch"] else f"batch {model['batch']}"
    lines = [
        f"videohub model benchmark - {Path(model['path']).name}: {model['layout']} layout, "
        f"{model['num_classes']} classes, input {model['input_size'][0]}x{model['input_size'][1]} "
        f"{model['input_dtype']}, {batch}, "
        f"{model['provider']}",
        f"{m['cpu_model']}, {m['usable_cores']} usable cores; onnxruntime {m['onnxruntime']} "
        f"(intra-op threads {threads}, spinning {'on' if p['spin'] else 'off'})",
    ]
    if ul["status"] == "ok" and ul.get("versions"):
        v = ul["versions"]
        nms = {True: "", False: "; torchvision's compiled ops do not load: NMS in plain torch"}
        lines.append(
            f"Ultralytics {v['ultralytics']}, torch {v['torch']}, onnxruntime {v['onnxruntime']} "
            f"(its defaults: all cores, spinning on{nms.get(v.get('torchvision_compiled_ops'), '')})"
        )
    else:
        lines.append(f"Ultralytics: {ul['status']}" + (f" ({ul['detail']})" if ul.get("detail") else ""))
    src = result["source"]
    lines += [
        f"frames: {src['frames']} decoded {src['width']}x{src['height']} frames of the {src['clip']}; {p['timing']}",
        "",
    ]
    header = (
        f"{'batch':>5}  {'method':<19}{'input':>14}{'frames/s':>10}{'ms/frame':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'cores':>7}{'b/a':>7}{'b/c':>7}"
    )
    lines += [header, "-" * len(header)]
    other_max = 0.0
    for r in result["results"]:
        for method in METHODS:
            s = r.get(method)
            if method == "ultralytics" and s is None:
                if ul["status"] == "ok":
                    lines.append(f"{r['batch']:>5}  {LABELS[method]:<19}  error: {r.get('ultralytics_error')}")
                continue
            assert s is not None
            lat = s["latency_ms"]
            extra = ""
            if method == "detector":
                extra = f"{fmt(r['ratios']['detector_over_bare_fps'], '.2f'):>7}"
                extra += f"{fmt(r['ratios']['detector_over_ultralytics_fps'], '.2f'):>7}"
            name = LABELS[method] + (" *" if r["mode"] == "frame_by_frame" else "")
            lines.append(
                f"{r['batch']:>5}  {name:<19}{_shape(s['input_shape']):>14}{fmt(s['fps']):>10}"
                f"{fmt(s['ms_per_frame']):>10}{fmt(lat['p50']):>9}{fmt(lat['p99']):>9}"
                f"{fmt(s['cpu_cores'], '.2f'):>7}{extra}"
            )
        other_max = max(other_max, r["other_load_cores"] or 0.0)
    lines += [
        "",
        "(a) bare session.run on a ready tensor: the model's limit here. (b) the hub's detector on decoded",
        "frames: letterbox, run, decode, NMS, boxes to frame pixels. (c) Ultralytics' predict, same ONNX and",
        "frames (a child process). p50/p99: per call, i.e. per batch. cores: CPU time / wall time of the",
        f"process doing it. b/a, b/c: frames/s ratios; the goal is b/a >= {GOAL_DETECTOR_OVER_BARE:g}.",
    ]
    stages = [
        f"batch {r['batch']}: " + "/".join(fmt(v) for v in r["ultralytics"]["stage_ms_per_image"].values())
        for r in result["results"]
        if r.get("ultralytics") and r["ultralytics"].get("stage_ms_per_image")
    ]
    if stages:
        lines.append("Ultralytics' own ms per image, pre/inference/post: " + ", ".join(stages))
    if any(r["mode"] == "frame_by_frame" for r in result["results"]):
        lines.append("* a batch-1 model: the batch runs frame by frame (what the hub does with it).")
    for r in result["results"]:
        if r.get("same_input_shape_as_ultralytics") is False:
            lines.append("NOTE: Ultralytics ran at another input shape (rect letterbox); compare b/c with care.")
            break
    for s in result["skipped_batches"]:
        lines.append(f"batch {s['batch']} skipped: {s['reason']}")
    if other_max > 0.25:
        lines.append(f"WARNING: other processes used up to {other_max:.2f} cores during the runs; figures are noisy.")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Params()
    parser.add_argument("--model", required=True, help="the ONNX YOLO model to measure")
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds (small frames, batch 1, 2)")
    parser.add_argument("--batches", help="comma list of batch sizes (default 1,2,4,8)")
    parser.add_argument(
        "--seconds", type=float, help=f"timed seconds per batch size and method (default {d.seconds:g})"
    )
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds the seconds are split in (default {d.rounds})")
    parser.add_argument("--warmup", type=float, dest="warmup_s", help=f"warm-up seconds (default {d.warmup_s:g})")
    parser.add_argument("--frames", type=int, help=f"decoded frames cycled through (default {d.frames})")
    parser.add_argument("--resolution", help=f"source frames: 720p, 1080p or WxH (default {d.resolution})")
    parser.add_argument(
        "--source",
        choices=sorted(FRAME_SOURCES),
        help=f"source pictures: cctv texture or the street scene (default {d.source})",
    )
    parser.add_argument("--imgsz", help="input size of a dynamic-size model: N or HxW (default: its metadata)")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument("--spin", action="store_true", help="let onnxruntime's threads busy-wait (hub default: off)")
    parser.add_argument(
        "--compare",
        choices=("auto", "ultralytics", "none"),
        help="Ultralytics comparison: auto (when installed, the default), ultralytics (required), none",
    )
    parser.add_argument(
        "--ultralytics-python",
        help="Python with ultralytics and torch installed (default: $VIDEOHUB_ULTRALYTICS_PYTHON, else this one)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")


def params_from_args(args: argparse.Namespace) -> Params:
    base = {"model": args.model}
    params = Params.quick_params(**base) if args.quick else Params(**base)
    overrides: dict[str, Any] = {
        k: getattr(args, k, None)
        for k in (
            "seconds",
            "rounds",
            "warmup_s",
            "frames",
            "resolution",
            "source",
            "imgsz",
            "threads",
            "compare",
            "ultralytics_python",
        )
    }
    if getattr(args, "batches", None):
        overrides["batches"] = parse_int_list(args.batches, "--batches")
    if getattr(args, "spin", False):
        overrides["spin"] = True
    return replace(params, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    return measure_and_report(args, params_from_args, measure, format_table, (ValueError, ModelError))


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
