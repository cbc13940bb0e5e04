"""Pipeline benchmark: N live cameras through the real hub, ingest to detections, and optionally
Ultralytics' streaming predict on the same streams in the same run.

N simulated 25 fps RTSP cameras (the project's RTSP server and PatternFeed picture, 720p by
default; see cameras.py, which serves them from a child process) are pulled by a real
`HubRuntime` configured with one ONNX model on every camera: the hub's own readers decode,
its analytics sampler takes the newest frame per camera (by default as often as the model
allows: the sampler runs at its highest rate, 60/s, and the engine keeps only each camera's
newest frame waiting), and its detection engine batches across cameras.

After a warm-up (every camera has had a result), for `--seconds` it measures
* analytics frames/s per camera and in total (results delivered in the window);
* latency from frame arrival (the wall clock the hub stamped when the frame's packet came
  in) to its detections being stored (`ModelResult.done_at`), p50/p90/p99, per camera and
  overall, collected by polling the sampler's results every few milliseconds;
* frames dropped: replaced while waiting for the model (engine), and decoded but never
  sampled (latest-frame slot);
* model runs, runs per second and the batch-size histogram;
* CPU: the hub process' CPU time / wall (cores), the camera server's, and the rest of the
  machine's (other_load_cores: what makes figures on a shared machine noisy).

`--compare ultralytics` then runs Ultralytics' streaming predict on the same N RTSP URLs in a
child process (see ultralytics_worker.py) for the same time and reports the same figures, and
the ratios hub / Ultralytics come from this one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from videohub.bench.cameras import SOURCES, CameraServerProcess, camera_name, make_camera_clip
from videohub.bench.common import (
    CpuSample,
    cpu_between,
    find_ultralytics_python,
    finish_machine_info,
    fmt,
    machine_info,
    measure_and_report,
    parse_hw,
    parse_resolution,
    ratio,
    script_main,
    summarize_ms,
    worker_env,
)
from videohub.config import Config, ConfigError, parse_config
from videohub.detect.base import ModelError
from videohub.detect.engine import DetectionEngine
from videohub.detect.onnx_yolo import inspect_model
from videohub.runtime import HubRuntime, StartupError

DEFAULT_OUT = Path("benchmarks/results/pipeline.json")
MODEL_NAME = "bench"
SAMPLER_MAX_FPS = 60.0  # the highest analytics fps the config allows: every new frame is offered
POLL_S = 0.005  # result polling: far shorter than any camera's frame interval, so none is missed
GOAL_LATENCY_SHARE = 1 / 3  # the issue's goal: Ultralytics' frames/s at a third of its latency

Log = Callable[[str], None]


@dataclass(frozen=True)
class Params:
    """What to run and for how long."""

    model: str = ""
    cameras: int = 8
    seconds: float = 30.0  # measured window
    warmup_s: float = 5.0  # after every camera has had its first result
    fps: float | None = None  # analytics fps per camera; None: as fast as the model allows
    max_batch: int | None = None  # None: the hub's own default (1 on the CPU, 8 on a GPU)
    max_wait: float = 0.01
    threads: int | None = None
    # Input size for dynamic-size models: N or HxW. The hub's config (ModelConfig.imgsz) takes a
    # square size today; HxW is passed on as [h, w] and the config says if it refuses it.
    imgsz: str | None = None
    resolution: str = "720p"
    camera_fps: int = 25
    camera_source: str = "clip"  # clip: pre-encoded pattern looped; live: PatternFeed encoding live
    clip_seconds: float = 10.0
    compare: str = "none"  # ultralytics: also run Ultralytics' streaming predict
    ultralytics_python: str | None = None
    start_timeout_s: float = 60.0  # for every camera's first result
    quick: bool = False

    @classmethod
    def quick_params(cls, **kw: Any) -> Params:
        """A smoke run of a few seconds: two small cameras, a short window."""
        defaults: dict[str, Any] = {
            "cameras": 2,
            "seconds": 2.0,
            "warmup_s": 0.5,
            "resolution": "320x240",
            "clip_seconds": 2.0,
            "start_timeout_s": 20.0,
            "quick": True,
        }
        return cls(**(defaults | kw))

    def validate(self) -> None:
        if not self.model:
            raise ValueError("--model is required")
        if not Path(self.model).is_file():
            raise ValueError(f"{self.model}: no such model file")
        if not 1 <= self.cameras <= 256:
            raise ValueError("--cameras must be between 1 and 256")
        if self.seconds <= 0 or self.warmup_s < 0 or self.clip_seconds <= 0:
            raise ValueError("seconds and clip seconds must be positive, warm-up not negative")
        if self.fps is not None and not 0 < self.fps <= SAMPLER_MAX_FPS:
            raise ValueError(f"--fps must be within (0, {SAMPLER_MAX_FPS:g}] (the config's limit)")
        if not 1 <= self.camera_fps <= 120:
            raise ValueError("--camera-fps must be between 1 and 120")
        if self.camera_source not in SOURCES:
            raise ValueError(f"--camera-source must be one of {', '.join(SOURCES)}")
        if self.compare not in ("none", "ultralytics"):
            raise ValueError("--compare must be ultralytics or none")
        parse_resolution(self.resolution)
        if self.imgsz is not None:
            parse_hw(self.imgsz)


# --------------------------------------------------------------------------- the hub


@dataclass
class _Snapshot:
    """Counters of the hub at one moment; the window's figures are differences of two."""

    cpu: CpuSample
    wall_clock: float
    engine: dict[str, tuple[int, int, int, int]]  # camera -> submitted, dropped, processed, errors
    channels: dict[str, tuple[int, int, int, int]]  # camera -> received, decoded, slot drops, reconnects
    runs: int
    batch_sizes: Counter[int] = field(default_factory=Counter)

    @classmethod
    def take(cls, runtime: HubRuntime, engine: DetectionEngine, cameras: list[str], pids: list[int]) -> _Snapshot:
        stats = engine.cameras
        per_engine = {}
        for cam in cameras:
            s = stats.get(cam)
            per_engine[cam] = (s.submitted, s.dropped, s.processed, s.errors) if s else (0, 0, 0, 0)
        per_channel = {}
        for cam in cameras:
            ch = runtime.hub.channel(cam)
            h = ch.health
            per_channel[cam] = (h.frames_received, h.frames_decoded, ch.slot.dropped, h.reconnects)
        return cls(
            cpu=CpuSample.take(pids),
            wall_clock=time.time(),
            engine=per_engine,
            channels=per_channel,
            runs=engine.runs,
            batch_sizes=Counter(engine.batch_sizes),
        )


class _LatencyPoller(threading.Thread):
    """Collects (frame time, done time) of every result the sampler stores, by polling.

    The sampler keeps only the newest result per camera and model; a camera's results are at
    least a frame interval apart (one waiting frame per camera, one batch at a time), far more
    than the polling interval, so polling sees them all (`latency_samples` vs `processed`
    in the result shows it)."""

    def __init__(self, runtime: HubRuntime, cameras: list[str]) -> None:
        super().__init__(name="bench-latency", daemon=True)
        self.runtime, self.cameras = runtime, cameras
        self.results: dict[str, list[tuple[float, float]]] = {c: [] for c in cameras}
        self._last_seq: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(POLL_S):
            for cam in self.cameras:
                r = self.runtime.analytics.results(cam).get(MODEL_NAME)
                if r is not None and r.seq != self._last_seq.get(cam):
                    self._last_seq[cam] = r.seq
                    self.results[cam].append((r.frame_time, r.done_at))

    def stop(self) -> None:
        self._halt.set()
        self.join(2)

    def latencies(self, cam: str, start: float, end: float) -> list[float]:
        return [done - ts for ts, done in self.results[cam] if start <= done < end]


def hub_config(params: Params, urls: list[str], workdir: Path) -> Config:
    model: dict[str, Any] = {
        "kind": "onnx",
        "path": str(Path(params.model).resolve()),
        "max_batch": params.max_batch,
        "max_wait": params.max_wait,
    }
    if params.threads is not None:
        model["threads"] = params.threads
    if params.imgsz is not None:
        h, w = parse_hw(params.imgsz)
        model["imgsz"] = h if h == w else [h, w]
    fps = params.fps or SAMPLER_MAX_FPS
    data = {
        "server": {"host": "127.0.0.1", "port": 0, "rtsp_port": None},
        "database": {"url": f"sqlite:///{workdir / 'hub.db'}"},
        "models_dir": None,
        "models": {MODEL_NAME: model},
        "cameras": [
            {"id": camera_name(i), "stream_url": url, "detect": {"models": [MODEL_NAME], "fps": fps}}
            for i, url in enumerate(urls)
        ],
    }
    return parse_config(data, "bench pipeline")


def run_hub(params: Params, server: CameraServerProcess, workdir: Path, say: Log) -> dict[str, Any]:
    urls = server.urls()
    cameras = [camera_name(i) for i in range(len(urls))]
    runtime = HubRuntime(hub_config(params, urls, workdir), "bench pipeline")
    loaded = runtime.models.models[MODEL_NAME]
    if loaded.engine is None:
        runtime.stop()
        raise ModelError(loaded.error or "the model did not load")
    engine = loaded.engine
    poller = _LatencyPoller(runtime, cameras)
    try:
        runtime.start()
        poller.start()
        say(f"hub: pulling {len(cameras)} cameras, waiting for every camera's first result ...")
        deadline = time.monotonic() + params.start_timeout_s
        while not all(poller.results[c] for c in cameras):
            if time.monotonic() > deadline:
                missing = [c for c in cameras if not poller.results[c]]
                states = {c: runtime.hub.channel(c).health.state for c in missing}
                raise RuntimeError(
                    f"no result from {', '.join(missing)} within {params.start_timeout_s:g} s "
                    f"(camera states {states}; engine error {engine.last_error}; cameras: {server.log_tail(200)})"
                )
            time.sleep(0.05)
        time.sleep(params.warmup_s)
        say(f"hub: measuring {params.seconds:g} s ...")
        pids = [server.pid]
        before = _Snapshot.take(runtime, engine, cameras, pids)
        time.sleep(params.seconds)
        after = _Snapshot.take(runtime, engine, cameras, pids)
        recent_inference = {q: engine.inference_time.percentile(q) for q in (50, 99)}
        recent_wait = {q: engine.queue_wait.percentile(q) for q in (50, 99)}
        last_error = engine.last_error
    finally:
        poller.stop()
        runtime.stop()
    figures = _hub_figures(before, after, poller, cameras, server.pid, recent_inference, recent_wait, last_error)
    figures["max_batch"] = engine.max_batch  # the engine's, after the hub's CPU/GPU default
    return figures


def _hub_figures(
    before: _Snapshot,
    after: _Snapshot,
    poller: _LatencyPoller,
    cameras: list[str],
    server_pid: int,
    recent_inference: dict[int, float | None],
    recent_wait: dict[int, float | None],
    last_error: str | None,
) -> dict[str, Any]:
    cpu = cpu_between(before.cpu, after.cpu)
    window = cpu["wall_s"]
    per_camera = []
    all_latencies: list[float] = []
    totals = Counter[str]()
    for cam in cameras:
        e0, e1 = before.engine[cam], after.engine[cam]
        c0, c1 = before.channels[cam], after.channels[cam]
        submitted, dropped, processed, errors = (b - a for a, b in zip(e0, e1, strict=True))
        received, decoded, slot_dropped, reconnects = (b - a for a, b in zip(c0, c1, strict=True))
        latencies = poller.latencies(cam, before.wall_clock, after.wall_clock)
        all_latencies += latencies
        counts = {
            "processed": processed,
            "submitted": submitted,
            "dropped_waiting_for_model": dropped,
            "errors": errors,
            "frames_received": received,
            "frames_decoded": decoded,
            "dropped_before_sampling": slot_dropped,
            "reconnects": reconnects,
            "latency_samples": len(latencies),
        }
        totals.update(counts)
        per_camera.append(
            {
                "camera": cam,
                "fps": round(processed / window, 3),
                "input_fps": round(received / window, 3),
                **counts,
                "latency_ms": summarize_ms(latencies),
            }
        )
    batches = after.batch_sizes - before.batch_sizes
    runs = after.runs - before.runs
    fps = [c["fps"] for c in per_camera]
    return {
        "window_s": round(window, 3),
        "fps_total": round(totals["processed"] / window, 3),
        "fps_per_camera": {"mean": round(sum(fps) / len(fps), 3), "min": min(fps), "max": max(fps)},
        "input_fps_per_camera": round(totals["frames_received"] / window / len(cameras), 3),
        "latency_ms": summarize_ms(all_latencies),
        "frames": dict(totals),
        # Of the frames the cameras delivered, the share the model never saw (newest-frame policy).
        "skipped_share": ratio(totals["frames_decoded"] - totals["processed"], totals["frames_decoded"]),
        "model_runs": runs,
        "runs_per_s": round(runs / window, 3),
        "batch_sizes": {str(k): v for k, v in sorted(batches.items())},
        "mean_batch": ratio(sum(k * v for k, v in batches.items()), runs),
        # The engine keeps its last 512 timings, not a window: recent, for orientation.
        "engine_recent_ms": {
            "inference_p50": _ms(recent_inference[50]),
            "inference_p99": _ms(recent_inference[99]),
            "queue_wait_p50": _ms(recent_wait[50]),
            "queue_wait_p99": _ms(recent_wait[99]),
        },
        "cpu_cores": round(cpu["cores"], 3),
        "camera_server_cores": _round(cpu["watched_cores"].get(str(server_pid))),
        "other_load_cores": _round(cpu["other_load_cores"]),
        "last_error": last_error,
        "per_camera": per_camera,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


# --------------------------------------------------------------------------- Ultralytics


def run_ultralytics(
    params: Params, python: str, server: CameraServerProcess, input_hw: tuple[int, int], workdir: Path, say: Log
) -> dict[str, Any]:
    urls = server.urls()
    streams = workdir / "cameras.streams"  # LoadStreams wants the .streams suffix
    streams.write_text("\n".join(urls) + "\n")
    cmd = [
        python,
        "-m",
        "videohub.bench.ultralytics_worker",
        "stream",
        "--model",
        str(Path(params.model).resolve()),
        "--streams",
        str(streams),
        "--imgsz",
        str(input_hw[0]),
        str(input_hw[1]),
        "--warmup",
        str(params.warmup_s),
        "--seconds",
        str(params.seconds),
        "--watch-pid",
        str(server.pid),
    ]
    say(f"Ultralytics: streaming predict on {len(urls)} cameras ({python}) ...")
    log_path = workdir / "ultralytics.log"
    # OpenCV's FFmpeg reader takes RTSP over UDP unless told; the hub pulls over TCP.
    # PYTHONFAULTHANDLER: a crash in native code (OpenCV, torch) leaves a traceback in the log.
    env = worker_env({"OPENCV_FFMPEG_CAPTURE_OPTIONS": "rtsp_transport;tcp", "PYTHONFAULTHANDLER": "1"})
    timeout = params.warmup_s + params.seconds + params.start_timeout_s + 120
    with log_path.open("w") as log:
        try:
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "error", "detail": f"timed out after {timeout:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        raw: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except ValueError:
        raw = {}
    if not raw.get("ok"):
        tail = log_path.read_text(errors="replace").strip()[-1500:]
        return {"status": "error", "detail": str(raw.get("error") or f"exit {done.returncode}: {tail}")}
    return _ultralytics_figures(raw, server.paths)


def _ultralytics_figures(raw: dict[str, Any], cameras: list[str]) -> dict[str, Any]:
    window = float(raw["window_s"])
    per_camera: list[dict[str, Any]] = []
    all_latencies: list[float] = []
    for i, cam in enumerate(cameras):
        latencies = [float(v) for v in raw["latencies_s"][i]]
        all_latencies += latencies
        processed, read = int(raw["processed"][i]), int(raw["frames_read"][i])
        per_camera.append(
            {
                "camera": cam,
                "fps": round(processed / window, 3),
                "input_fps": round(read / window, 3),
                "processed": processed,
                "frames_read": read,
                "dropped": max(0, read - processed),
                "latency_samples": len(latencies),
                "latency_ms": summarize_ms(latencies),
            }
        )
    processed_total = sum(int(raw["processed"][i]) for i in range(len(cameras)))
    read_total = sum(int(raw["frames_read"][i]) for i in range(len(cameras)))
    fps: list[float] = [c["fps"] for c in per_camera]
    cpu = float(raw["cpu_s"])
    watched = raw.get("watched_cpu_s")
    busy = raw.get("system_busy_s")
    other = None if busy is None else max(0.0, (busy - cpu - (watched or 0.0)) / window)
    return {
        "status": "ok",
        "versions": raw["versions"],
        "input_hw": raw["input_hw"],
        "startup_s": _round(raw.get("startup_s"), 2),
        "window_s": round(window, 3),
        "fps_total": round(processed_total / window, 3),
        "fps_per_camera": {"mean": round(sum(fps) / len(fps), 3), "min": min(fps), "max": max(fps)},
        "input_fps_per_camera": round(read_total / window / len(cameras), 3),
        "latency_ms": summarize_ms(all_latencies),
        "frames": {"processed": processed_total, "frames_read": read_total, "dropped": read_total - processed_total},
        "skipped_share": ratio(read_total - processed_total, read_total),
        "model_runs": raw["batches"],
        "runs_per_s": round(raw["batches"] / window, 3),
        "batch_sizes": {str(raw["batch_size"]): raw["batches"]},
        "mean_batch": raw["batch_size"],
        "unmatched_results": raw["unmatched"],
        "stage_ms_per_image": raw.get("stage_ms_per_image"),
        "cpu_cores": round(cpu / window, 3),
        "camera_server_cores": None if watched is None else round(watched / window, 3),
        "other_load_cores": _round(other),
        "per_camera": per_camera,
    }


# --------------------------------------------------------------------------- whole run


def measure(params: Params, workdir: Path | None = None, log: Log | None = None) -> dict[str, Any]:
    """Serve the cameras, run the hub (and Ultralytics), return the JSON-ready result."""
    params.validate()
    say: Log = log or (lambda _msg: None)
    machine = machine_info()
    started = time.perf_counter()
    model = inspect_model(params.model, imgsz=parse_hw(params.imgsz) if params.imgsz else None)
    input_hw = (int(model["input_size"][0]), int(model["input_size"][1]))
    where = find_ultralytics_python(params.ultralytics_python, enabled=params.compare == "ultralytics")
    if params.compare == "ultralytics" and where.python is None:
        raise ValueError(f"--compare ultralytics: Ultralytics {where.status} ({where.detail})")
    width, height = parse_resolution(params.resolution)
    # The hub's config, checked now with stand-in URLs: a setting it refuses fails before any set-up.
    hub_config(params, [f"rtsp://127.0.0.1:1/{camera_name(i)}" for i in range(params.cameras)], Path("."))
    result: dict[str, Any] = {
        "benchmark": "pipeline",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "params": {
            **asdict(params),
            "analytics_fps": params.fps or f"max (sampler at {SAMPLER_MAX_FPS:g}/s, newest frame per camera)",
            "latency": "frame arrival (packet received by the hub's reader) -> detections stored",
        },
        "model": model,
        "cameras": {
            "count": params.cameras,
            "width": width,
            "height": height,
            "fps": params.camera_fps,
            "source": params.camera_source,
            "transport": "RTSP over TCP (interleaved), the project's RtspServer in a child process",
        },
        "hub": None,
        "ultralytics": where.to_json(),
    }
    with tempfile.TemporaryDirectory(dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        clip: Path | None = None
        if params.camera_source == "clip":
            say(f"encoding a {params.clip_seconds:g} s {width}x{height} scene clip ...")
            clip = make_camera_clip(tmp / "scene.mp4", width, height, params.camera_fps, params.clip_seconds)
        server = CameraServerProcess(
            params.cameras, width, height, params.camera_fps, clip, tmp / "cameras.log", env=worker_env()
        )
        try:
            result["hub"] = {"input_hw": list(input_hw), **run_hub(params, server, tmp, say)}
            if where.python is not None:
                result["ultralytics"].update(run_ultralytics(params, where.python, server, input_hw, tmp, say))
        finally:
            server.stop()
    result["comparison"] = compare(result["hub"], result["ultralytics"])
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    finish_machine_info(machine)
    return result


def compare(hub: dict[str, Any], ul: dict[str, Any]) -> dict[str, Any] | None:
    """Hub / Ultralytics ratios and the issue's goals, when both ran."""
    if ul.get("status") != "ok":
        return None
    p50_hub, p50_ul = hub["latency_ms"]["p50"], ul["latency_ms"]["p50"]
    return {
        "fps_hub_over_ultralytics": ratio(hub["fps_total"], ul["fps_total"]),
        "latency_p50_hub_over_ultralytics": ratio(p50_hub, p50_ul),
        "latency_p99_hub_over_ultralytics": ratio(hub["latency_ms"]["p99"], ul["latency_ms"]["p99"]),
        "cpu_hub_over_ultralytics": ratio(hub["cpu_cores"], ul["cpu_cores"]),
        "same_input_size": _same_hw(hub.get("input_hw"), ul.get("input_hw")),
        "goal_fps_at_least_ultralytics": hub["fps_total"] >= ul["fps_total"],
        "goal_latency_p50_at_most_a_third": (
            None if p50_hub is None or p50_ul is None else p50_hub <= p50_ul * GOAL_LATENCY_SHARE
        ),
    }


def _same_hw(a: Sequence[int] | None, b: Sequence[int] | None) -> bool | None:
    return None if not a or not b else [int(v) for v in a] == [int(v) for v in b]


# --------------------------------------------------------------------------- output


def format_table(result: dict[str, Any]) -> str:
    m, p, model, cams = result["machine"], result["params"], result["model"], result["cameras"]
    lines = [
        f"videohub pipeline benchmark - {cams['count']} cameras {cams['width']}x{cams['height']} "
        f"@ {cams['fps']} fps ({cams['source']}), model {Path(model['path']).name} "
        f"(input {model['input_size'][0]}x{model['input_size'][1]}, "
        f"{'dynamic batch' if model['dynamic_batch'] else 'batch ' + str(model['batch'])})",
        f"{m['cpu_model']}, {m['usable_cores']} usable cores; onnxruntime {m['onnxruntime']}; "
        f"analytics fps {p['analytics_fps']}, max batch {p['max_batch'] or 'auto'}, max wait {p['max_wait']:g} s, "
        f"threads {p['threads'] or 'default'}",
        "",
    ]
    header = (
        f"{'':<12}{'frames/s':>9}{'per cam':>9}{'min cam':>9}{'lat p50':>9}{'lat p99':>9}"
        f"{'skipped':>9}{'runs/s':>8}{'batch':>7}{'cores':>7}{'cams':>6}{'others':>8}"
    )
    lines += [header, "-" * len(header)]
    rows = [("hub", result["hub"])]
    ul = result["ultralytics"]
    if ul.get("status") == "ok":
        rows.append(("Ultralytics", ul))
    for name, r in rows:
        skipped = r["skipped_share"]
        lines.append(
            f"{name:<12}{fmt(r['fps_total']):>9}{fmt(r['fps_per_camera']['mean'], '.2f'):>9}"
            f"{fmt(r['fps_per_camera']['min'], '.2f'):>9}{fmt(r['latency_ms']['p50'], '.0f'):>9}"
            f"{fmt(r['latency_ms']['p99'], '.0f'):>9}{fmt(None if skipped is None else 100 * skipped, '.0f'):>8}%"
            f"{fmt(r['runs_per_s'], '.2f'):>8}{fmt(r['mean_batch'], '.2f'):>7}{fmt(r['cpu_cores'], '.2f'):>7}"
            f"{fmt(r['camera_server_cores'], '.2f'):>6}{fmt(r['other_load_cores'], '.2f'):>8}"
        )
    hub = result["hub"]
    lines += [
        "",
        f"hub: {hub['frames']['processed']} results in {hub['window_s']:.1f} s; latency = frame arrival -> detections "
        f"stored ({hub['latency_ms']['n']} samples); batch sizes {hub['batch_sizes']}; "
        f"engine recent inference p50 {fmt(hub['engine_recent_ms']['inference_p50'], '.0f')} ms; "
        f"cameras delivered {hub['input_fps_per_camera']:.1f} fps each",
    ]
    if ul.get("status") == "ok":
        c = result["comparison"] or {}
        lines += [
            f"Ultralytics {ul['versions']['ultralytics']} streaming predict (LoadStreams, batch of every camera's "
            f"newest frame), input {ul['input_hw']}; latency stamped when OpenCV's grab() returns",
            "Ultralytics' own ms per image, pre/inference/post: "
            + "/".join(fmt(v) for v in (ul.get("stage_ms_per_image") or {}).values())
            + ("" if ul["versions"].get("torchvision_compiled_ops") is not False else " (NMS in plain torch)"),
            f"hub / Ultralytics: frames/s {fmt(c.get('fps_hub_over_ultralytics'), '.2f')}, latency p50 "
            f"{fmt(c.get('latency_p50_hub_over_ultralytics'), '.2f')}, p99 "
            f"{fmt(c.get('latency_p99_hub_over_ultralytics'), '.2f')}; goals: frames/s >= Ultralytics "
            f"{_yes(c.get('goal_fps_at_least_ultralytics'))}, p50 <= a third of Ultralytics' "
            f"{_yes(c.get('goal_latency_p50_at_most_a_third'))}",
        ]
    else:
        lines.append(f"Ultralytics: {ul.get('status')}" + (f" ({ul['detail']})" if ul.get("detail") else ""))
    lines += [
        "skipped: decoded frames the model never saw (it takes each camera's newest). cores: this process' CPU",
        "time / wall; cams: the camera server's; others: the rest of the machine (noise in these figures).",
    ]
    other = max((r["other_load_cores"] or 0.0) for _, r in rows)
    if other > 0.25:
        lines.append(f"WARNING: other processes used up to {other:.2f} cores during the runs; figures are noisy.")
    if hub["input_fps_per_camera"] < 0.95 * cams["fps"]:
        lines.append("WARNING: the cameras delivered less than their frame rate: the machine could not keep up.")
    return "\n".join(lines)


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Params()
    parser.add_argument("--model", required=True, help="the ONNX YOLO model every camera runs")
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds (2 small cameras)")
    parser.add_argument("--cameras", type=int, help=f"simulated cameras (default {d.cameras})")
    parser.add_argument("--seconds", type=float, help=f"measured seconds (default {d.seconds:g})")
    parser.add_argument(
        "--warmup", type=float, dest="warmup_s", help=f"seconds after the first results (default {d.warmup_s:g})"
    )
    parser.add_argument("--fps", type=float, help="analytics fps per camera (default: as fast as the model allows)")
    parser.add_argument(
        "--max-batch", type=int, help="frames per model run at most (default: the hub's, 1 on the CPU, 8 on a GPU)"
    )
    parser.add_argument("--max-wait", type=float, help=f"seconds to wait for a batch to fill (default {d.max_wait:g})")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument(
        "--imgsz", help="input size of a dynamic-size model, N or HxW (default: its metadata); also Ultralytics'"
    )
    parser.add_argument("--resolution", help=f"camera picture: 720p, 1080p or WxH (default {d.resolution})")
    parser.add_argument("--camera-fps", type=int, help=f"camera frame rate (default {d.camera_fps})")
    parser.add_argument(
        "--camera-source",
        choices=SOURCES,
        help="clip: pattern pre-encoded once, looped (default; cameras cost ~nothing); live: PatternFeed encoders",
    )
    parser.add_argument("--compare", choices=("none", "ultralytics"), help="also run Ultralytics' streaming predict")
    parser.add_argument(
        "--ultralytics-python",
        help="Python with ultralytics and torch installed (default: $VIDEOHUB_ULTRALYTICS_PYTHON, else this one)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")


def params_from_args(args: argparse.Namespace) -> Params:
    base = {"model": args.model}
    params = Params.quick_params(**base) if args.quick else Params(**base)
    keys = (
        "cameras",
        "seconds",
        "warmup_s",
        "fps",
        "max_batch",
        "max_wait",
        "threads",
        "imgsz",
        "resolution",
        "camera_fps",
        "camera_source",
        "compare",
        "ultralytics_python",
    )
    overrides = {k: getattr(args, k, None) for k in keys}
    return replace(params, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    return measure_and_report(
        args, params_from_args, measure, format_table, (ValueError, ConfigError, ModelError, StartupError, RuntimeError)
    )


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
