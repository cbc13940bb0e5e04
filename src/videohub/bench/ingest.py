"""Ingest benchmark: how many live H.264 camera streams this machine decodes in real time.

For 720p and 1080p 25 fps H.264 (IP-camera style: 2 s GOP, no B-frames, CCTV bitrate)
and for each decode mode (every frame; every frame plus the BGR conversion analytics
needs; key frames only) it measures

* one stream decoded flat out on one thread: throughput and CPU seconds per second of
  video, i.e. the CPU share one real-time stream costs;
* a paced run that confirms the prediction: N threads, each with its own decoder, are
  fed packets at the camera's frame rate, with key frames staggered across the GOP as
  independent cameras would be. N is searched around the prediction; the answer is the
  largest N at which every stream is still live at the end of the run (see `_is_live`).

Every decoder runs with ``thread_count=1``: with many streams there is already a thread
per stream to fill the cores, and FFmpeg's frame threads would only add latency, memory
and context switches. PyAV releases the GIL while decoding and converting, so Python
threads in one process scale across cores.

The clips are synthesised and encoded with libx264 into a temporary directory; nothing
is downloaded and nothing large is written outside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from videohub.bench.timing import system_busy_s

FPS = 25
GOP = 50  # 2 s at 25 fps: the usual IP-camera default
DEFAULT_OUT = Path("benchmarks/results/ingest.json")
# swscale picks its own thread count unless told, and PyAV builds a new scaler for every
# frame, so the default sets up a thread pool per frame: 5-40 % more CPU for nothing in
# our runs (recorded as cpu_s_per_video_s_default_sws_threads).
BGR_CALL = 'frame.to_ndarray(format="bgr24", threads=1)'

Log = Callable[[str], None]


@dataclass(frozen=True)
class Resolution:
    name: str
    width: int
    height: int
    bitrate_kbps: int
    profile: str


@dataclass(frozen=True)
class Mode:
    name: str
    skip_frame: str | None  # PyAV codec_context.skip_frame value, None = decode all
    to_bgr: bool
    description: str


RESOLUTIONS: dict[str, Resolution] = {
    "720p": Resolution("720p", 1280, 720, 3000, "main"),
    "1080p": Resolution("1080p", 1920, 1080, 5000, "high"),
}

MODES: dict[str, Mode] = {
    "full": Mode("full", None, False, "every frame decoded"),
    "full+bgr": Mode("full+bgr", None, True, "every frame decoded and converted to BGR numpy"),
    "key": Mode("key", "NONKEY", False, "key frames only (skip_frame=NONKEY)"),
}


@dataclass(frozen=True)
class Params:
    """What to measure and how long to spend on it."""

    resolutions: tuple[str, ...] = ("720p", "1080p")
    modes: tuple[str, ...] = ("full", "full+bgr", "key")
    seconds: float = 10.0  # clip length
    run_seconds: float = 4.0  # length of each paced probe once every stream has started
    repeats: int = 3  # single-stream passes; the median is reported
    max_streams: int = 400  # ceiling for the paced search (about 10 MB per 1080p decoder)
    max_probes: int = 5  # paced runs per resolution x mode
    tolerance_s: float = 0.25  # how far behind schedule a stream may be and still count as live
    disturbed_cores: float = 0.15  # other processes using more than this make a failed probe rerun
    max_retries: int = 3  # reruns of disturbed probes per resolution x mode
    retry_pause_s: float = 3.0  # give the other work a moment to finish before a rerun
    quick: bool = False

    @classmethod
    def quick_params(cls) -> Params:
        """A smoke run of a few seconds: tiny clips, short probes, at most 3 streams."""
        return cls(seconds=1.0, run_seconds=0.3, repeats=1, max_streams=3, max_probes=2, max_retries=0, quick=True)

    def validate(self) -> None:
        unknown = [r for r in self.resolutions if r not in RESOLUTIONS]
        unknown += [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f"unknown resolution or mode: {', '.join(unknown)}")
        if self.seconds <= 0 or self.run_seconds <= 0 or self.tolerance_s <= 0:
            raise ValueError("seconds, run_seconds and tolerance_s must be positive")
        if self.repeats < 1 or self.max_streams < 1 or self.max_probes < 1:
            raise ValueError("repeats, max_streams and max_probes must be at least 1")
        if self.max_retries < 0 or self.disturbed_cores < 0 or self.retry_pause_s < 0:
            raise ValueError("max_retries, disturbed_cores and retry_pause_s must not be negative")


@dataclass
class Clip:
    """An encoded clip held in memory, so that file I/O and demuxing stay out of the figures."""

    resolution: Resolution
    extradata: bytes | None
    packets: list[bytes]
    keyframes: int
    size_bytes: int
    profile: str | None

    @property
    def seconds(self) -> float:
        return len(self.packets) / FPS

    def info(self) -> dict[str, Any]:
        return {
            "width": self.resolution.width,
            "height": self.resolution.height,
            "fps": FPS,
            "gop": GOP,
            "b_frames": 0,
            "profile": self.profile,
            "frames": len(self.packets),
            "keyframes": self.keyframes,
            "seconds": self.seconds,
            "target_kbps": self.resolution.bitrate_kbps,
            "actual_kbps": round(self.size_bytes * 8 / self.seconds / 1000, 1),
            "size_bytes": self.size_bytes,
        }


# --------------------------------------------------------------------------- clips


def _texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Detail at several scales, like a street scene: flat noise would be either trivial
    or incompressible, neither of which makes the decoder do representative work."""
    acc = np.zeros((height, width, 3), np.float32)
    for scale, amplitude in ((64, 60.0), (16, 40.0), (4, 25.0), (1, 12.0)):
        small = rng.standard_normal((max(2, height // scale), max(2, width // scale), 3))
        acc += amplitude * cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(acc + 128.0, 0, 255).astype(np.uint8)


@dataclass
class _MovingObject:
    """A textured block (car, person, bus) crossing the scene and bouncing off its edges."""

    texture: np.ndarray
    x: float
    y: float
    vx: float
    vy: float

    def step(self, width: int, height: int) -> None:
        th, tw = self.texture.shape[:2]
        self.x += self.vx
        self.y += self.vy
        if not 0 <= self.x <= width - tw:
            self.vx = -self.vx
            self.x = min(max(self.x, 0.0), float(width - tw))
        if not 0 <= self.y <= height - th:
            self.vy = -self.vy
            self.y = min(max(self.y, 0.0), float(height - th))


def make_clip(res: Resolution, seconds: float, path: Path, seed: int = 1) -> Path:
    """Encode a synthetic CCTV-like clip: a slowly panning textured scene, textured objects
    crossing it at different speeds, and sensor noise; 25 fps, GOP 50, no B-frames."""
    rng = np.random.default_rng(seed)
    w, h = res.width, res.height
    frames = max(1, round(seconds * FPS))
    background = _texture(h + 64, w + frames + 8, rng)  # pans 1 px per frame
    # A handful of pre-computed noise fields is enough: the background moves under them,
    # so the encoder never sees the same noise at the same place twice in a row.
    noise = [rng.integers(0, 10, (h, w, 3), dtype=np.uint8) for _ in range(7)]
    objects = []
    for _ in range(14):
        ow, oh = int(rng.integers(w // 20, w // 6)), int(rng.integers(h // 20, h // 5))
        objects.append(
            _MovingObject(
                _texture(oh, ow, rng),
                float(rng.uniform(0, w - ow)),
                float(rng.uniform(0, h - oh)),
                float(rng.uniform(-6, 6)),
                float(rng.uniform(-3, 3)),
            )
        )

    kbps = res.bitrate_kbps
    x264 = f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:vbv-maxrate={int(kbps * 1.25)}:vbv-bufsize={kbps * 2}"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = kbps * 1000
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = 0
        stream.codec_context.thread_count = 0  # encoding is set-up, not measured: use every core
        # veryfast keeps CABAC, deblocking and one reference frame, which is what camera
        # encoders produce; the slower presets only change how well bits are spent.
        stream.options = {"preset": "veryfast", "profile": res.profile, "x264-params": x264}
        for i in range(frames):
            oy = int(16 + 12 * math.sin(i / 40))
            img = background[oy : oy + h, i : i + w].copy()
            for o in objects:
                o.step(w, h)
                th, tw = o.texture.shape[:2]
                x, y = int(o.x), int(o.y)
                img[y : y + th, x : x + tw] = o.texture
            cv2.add(img, noise[i % len(noise)], dst=img)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def load_clip(res: Resolution, path: Path) -> Clip:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata
        profile = stream.codec_context.profile
        packets, keyframes = [], 0
        for packet in container.demux(stream):
            if packet.size:
                packets.append(bytes(packet))
                keyframes += packet.is_keyframe
    return Clip(res, extradata, packets, keyframes, path.stat().st_size, profile)


# --------------------------------------------------------------------------- decoding


def _open_decoder(clip: Clip, mode: Mode) -> VideoCodecContext:
    ctx = av.CodecContext.create("h264", "r")
    ctx.extradata = clip.extradata
    ctx.thread_count = 1  # one thread per stream; see the module docstring
    if mode.skip_frame == "NONKEY":
        ctx.skip_frame = "NONKEY"
    return ctx


def _decode_pass(clip: Clip, mode: Mode, bgr_threads: int | None = 1) -> dict[str, Any]:
    """Decode the whole clip once on the calling thread, flat out."""
    ctx = _open_decoder(clip, mode)
    types: Counter[str] = Counter()
    frames = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for data in clip.packets:
        for frame in ctx.decode(av.Packet(data)):
            frames += 1
            types[PictureType(frame.pict_type).name] += 1
            if mode.to_bgr:
                frame.to_ndarray(format="bgr24", threads=bgr_threads)
    for _ in ctx.decode(None):
        frames += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"frames": frames, "wall_s": wall, "cpu_s": cpu, "frame_types": dict(types)}


def measure_single(clip: Clip, mode: Mode, repeats: int, cores: int) -> dict[str, Any]:
    """One stream on one thread. CPU time, not wall time, is the figure that carries: it is
    what the stream costs however busy the machine is with other work."""
    passes = [_decode_pass(clip, mode) for _ in range(repeats)]
    wall = statistics.median(p["wall_s"] for p in passes)
    cpu = statistics.median(p["cpu_s"] for p in passes)
    cpu_per_video_s = cpu / clip.seconds
    result: dict[str, Any] = {
        "frames_decoded": passes[0]["frames"],
        "frame_types": passes[0]["frame_types"],
        "wall_s": wall,
        "cpu_s": cpu,
        "decoded_fps": passes[0]["frames"] / wall,
        "realtime_factor": clip.seconds / wall,
        "cpu_s_per_video_s": cpu_per_video_s,
        "cpu_pct_per_stream": 100.0 * cpu_per_video_s,
        "predicted_streams": math.floor(cores / cpu_per_video_s),
        "passes": [{k: p[k] for k in ("wall_s", "cpu_s")} for p in passes],
    }
    if mode.to_bgr:
        # Evidence for BGR_CALL: the same conversion with swscale's default threading.
        default = _decode_pass(clip, mode, bgr_threads=None)
        result["cpu_s_per_video_s_default_sws_threads"] = default["cpu_s"] / clip.seconds
    return result


# --------------------------------------------------------------------------- paced runs


class _PacedStream(threading.Thread):
    """One camera: its packets become due at 25 fps from `start`; it decodes each as soon
    as it is due (or at once when behind) until `end`, and records how far behind it is."""

    def __init__(self, clip: Clip, mode: Mode, phase_s: float, barrier: threading.Barrier, clock: list[float]):
        super().__init__(daemon=True)
        self.clip, self.mode, self.phase_s = clip, mode, phase_s
        self.barrier, self.clock = barrier, clock
        self.decoder = _open_decoder(clip, mode)
        self.completed = 0
        self.due = 0
        self.frames = 0
        self.max_lag_s = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.barrier.wait()
            start, end = self.clock[0] + self.phase_s, self.clock[1]
            period = 1.0 / FPS
            packets, n = self.clip.packets, len(self.clip.packets)
            j = 0
            while True:
                due = start + j * period
                if due >= end:
                    break
                now = time.perf_counter()
                if now < due:
                    time.sleep(due - now)
                elif now >= end:
                    break
                # The clip starts with an IDR frame, so looping it is a seamless stream.
                for frame in self.decoder.decode(av.Packet(packets[j % n])):
                    self.frames += 1
                    if self.mode.to_bgr:
                        frame.to_ndarray(format="bgr24", threads=1)
                done = time.perf_counter()
                if done > end:
                    break
                self.max_lag_s = max(self.max_lag_s, done - due)
                j += 1
            self.completed = j
            self.due = max(0, math.ceil((end - start) / period))
        except BaseException as exc:  # re-raised by the main thread
            self.error = exc

    @property
    def backlog_s(self) -> float:
        return max(0, self.due - self.completed) / FPS


def _stream_tolerance_s(mode: Mode, tolerance_s: float) -> float:
    # A key-frame-only decoder emits one picture per GOP and does all of a GOP's work in
    # one burst, so at any instant a healthy stream may be up to a GOP behind while its
    # key frame waits for a core. Such a stream is live as long as it has not missed a key
    # frame; the mean over all streams (below) still catches a machine that is overloaded.
    return tolerance_s + (GOP / FPS if mode.skip_frame == "NONKEY" else 0.0)


def _is_live(backlogs: Sequence[float], mode: Mode, tolerance_s: float) -> bool:
    """Every stream within its tolerance and the streams together within `tolerance_s`:
    a stream that falls behind by more than that in one run is not keeping up."""
    return max(backlogs) <= _stream_tolerance_s(mode, tolerance_s) and statistics.fmean(backlogs) <= tolerance_s


def probe_paced(clip: Clip, mode: Mode, n: int, run_seconds: float, tolerance_s: float) -> dict[str, Any]:
    """Run `n` live-paced streams at once and report whether all of them kept real time."""
    # Independent cameras do not send key frames in step; staggering them over one GOP
    # avoids a synthetic thundering herd of I-frames that would understate capacity.
    stagger = min(GOP, len(clip.packets)) / FPS
    clock: list[float] = []  # [t0, end], set once every thread has its decoder ready

    def set_clock() -> None:
        t0 = time.perf_counter() + 0.05
        clock.extend([t0, t0 + stagger + run_seconds])

    barrier = threading.Barrier(n + 1, action=set_clock)
    streams = [_PacedStream(clip, mode, stagger * i / n, barrier, clock) for i in range(n)]
    started: list[_PacedStream] = []
    try:
        for s in streams:
            s.start()
            started.append(s)
        barrier.wait()
    except BaseException:
        # e.g. the OS refused another thread: release the ones waiting instead of hanging.
        barrier.abort()
        for s in started:
            s.join()
        raise
    t0, end = clock
    # CPU is sampled only while every stream is running.
    time.sleep(max(0.0, t0 + stagger - time.perf_counter()))
    cpu0, sys0, w0 = time.process_time(), system_busy_s(), time.perf_counter()
    time.sleep(max(0.0, end - time.perf_counter()))
    cpu1, sys1, w1 = time.process_time(), system_busy_s(), time.perf_counter()
    for s in streams:
        s.join()
    errors = [s.error for s in streams if s.error is not None]
    if errors:
        raise RuntimeError(f"decoder thread failed: {errors[0]!r}") from errors[0]

    backlogs = sorted(s.backlog_s for s in streams)
    ours = (cpu1 - cpu0) / (w1 - w0)
    other = None if sys0 is None or sys1 is None else max(0.0, (sys1 - sys0) / (w1 - w0) - ours)
    return {
        "streams": n,
        "realtime": _is_live(backlogs, mode, tolerance_s),
        "max_backlog_s": backlogs[-1],
        "mean_backlog_s": statistics.fmean(backlogs),
        "median_backlog_s": statistics.median(backlogs),
        "streams_behind": sum(b > _stream_tolerance_s(mode, tolerance_s) for b in backlogs),
        "max_lag_s": max(s.max_lag_s for s in streams),
        "min_realtime_ratio": min(s.completed / s.due if s.due else 1.0 for s in streams),
        "frames_decoded": sum(s.frames for s in streams),
        "cpu_cores": ours,
        "cpu_pct_per_stream": 100.0 * ours / n,
        "other_load_cores": other,
    }


def find_capacity(
    probe: Callable[[int], dict[str, Any]], predicted: int, max_streams: int, max_probes: int
) -> dict[str, Any]:
    """Largest N that keeps real time: start under the CPU-time prediction (live streams
    cost 10-20 % more than flat-out decoding: wake-ups, cold caches, the GIL), walk up or
    down, then bisect."""
    probes: dict[int, dict[str, Any]] = {}
    lo, hi = 0, math.inf  # largest N seen passing, smallest N seen failing
    n = min(max_streams, max(1, math.floor(0.8 * predicted)))
    while len(probes) < max_probes and n not in probes:
        probes[n] = result = probe(n)
        if result["realtime"]:
            lo = max(lo, n)
        else:
            hi = min(hi, n)
        if hi <= lo + max(1, 0.03 * lo):  # close enough: within noise of the machine
            break
        if hi == math.inf:
            if lo >= max_streams:
                break
            n = min(max_streams, max(lo + 1, math.ceil(lo * 1.08)))
        elif lo == 0:
            if hi <= 1:
                break
            n = max(1, math.floor(hi * 0.8))
        else:
            n = (lo + int(hi)) // 2
    return {
        "streams": lo,
        "first_failing": None if hi == math.inf else int(hi),
        "capped": hi == math.inf and lo >= max_streams,
        "probes": [probes[k] for k in sorted(probes)],
    }


# --------------------------------------------------------------------------- whole run


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "loadavg_at_start": load,
        "python": platform.python_version(),
        "pyav": av.__version__,
        "ffmpeg": av.ffmpeg_version_info,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "numpy": np.__version__,
    }


def measure(params: Params | None = None, workdir: Path | None = None, log: Log | None = None) -> dict[str, Any]:
    """Build the clips, run every resolution x mode, and return the JSON-ready result."""
    params = params or Params()
    params.validate()
    say: Log = log or (lambda _msg: None)
    machine = machine_info()
    cores = machine["usable_cores"]
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "params": {
            **asdict(params),
            "fps": FPS,
            "gop": GOP,
            "decoder_threads_per_stream": 1,
            "bgr_conversion": BGR_CALL,
            "paced_criterion": (
                f"at the end of the run every stream at most {params.tolerance_s:g} s behind schedule "
                f"(key-frame-only: at most one GOP + {params.tolerance_s:g} s) and the mean at most "
                f"{params.tolerance_s:g} s"
            ),
        },
        "clips": {},
        "results": {},
    }
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for name in params.resolutions:
            res = RESOLUTIONS[name]
            say(f"encoding {params.seconds:g} s {name} clip ...")
            clip = load_clip(res, make_clip(res, params.seconds, Path(tmp) / f"{name}.mp4"))
            result["clips"][name] = clip.info()
            per_mode: dict[str, Any] = {}
            for mode_name in params.modes:
                mode = MODES[mode_name]
                single = measure_single(clip, mode, params.repeats, cores)
                say(
                    f"{name} {mode_name}: {single['cpu_pct_per_stream']:.2f} % of a core per stream, "
                    f"predicted {single['predicted_streams']} streams; confirming ..."
                )

                retries = [params.max_retries]

                def probe(n: int, clip: Clip = clip, mode: Mode = mode, retries: list[int] = retries) -> dict[str, Any]:
                    attempts: list[dict[str, Any]] = []
                    while True:
                        r = probe_paced(clip, mode, n, params.run_seconds, params.tolerance_s)
                        attempts.append(r)
                        other = r["other_load_cores"] or 0.0
                        say(
                            f"  N={n:4d} {'live  ' if r['realtime'] else 'BEHIND'} backlog max "
                            f"{r['max_backlog_s']:.2f} s mean {r['mean_backlog_s']:.2f} s, "
                            f"{r['cpu_cores']:.2f} cores, others {other:.2f} cores"
                        )
                        # A failure while other processes held the CPU says nothing about
                        # this machine's capacity: run it again, a limited number of times.
                        if r["realtime"] or other <= params.disturbed_cores or retries[0] <= 0:
                            break
                        retries[0] -= 1
                        time.sleep(params.retry_pause_s)
                    best = min(attempts, key=lambda a: (not a["realtime"], a["other_load_cores"] or 0.0))
                    disturbed = (best["other_load_cores"] or 0.0) > params.disturbed_cores
                    return {**best, "attempts": len(attempts), "disturbed": disturbed}

                paced = find_capacity(probe, single["predicted_streams"], params.max_streams, params.max_probes)
                at_n = next((p for p in paced["probes"] if p["streams"] == paced["streams"]), None)
                per_mode[mode_name] = {
                    "description": mode.description,
                    "single": single,
                    "paced": paced,
                    "at_capacity": at_n,
                }
            result["results"][name] = per_mode
    result["elapsed_s"] = time.perf_counter() - started
    with contextlib.suppress(OSError):
        result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    return result


# --------------------------------------------------------------------------- output


def format_table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"videohub ingest benchmark - {m['cpu_model']}, {m['usable_cores']} cores, "
        f"Python {m['python']}, PyAV {m['pyav']}, FFmpeg {m['ffmpeg']}",
        "H.264 25 fps, GOP 50, no B-frames; one decoder thread per stream; "
        + ", ".join(f"{k} {c['profile']} {c['actual_kbps'] / 1000:.1f} Mbit/s" for k, c in result["clips"].items()),
        "",
    ]
    header = (
        f"{'res':<6}{'mode':<10}{'1 thread':>10}{'x real':>8}{'CPU/stream':>12}"
        f"{'predicted':>11}{'live streams':>14}{'CPU/stream':>12}{'other load':>12}"
    )
    sub = (
        f"{'':<6}{'':<10}{'frames/s':>10}{'time':>8}{'% of core':>12}"
        f"{'streams':>11}{'(measured)':>14}{'at N, %':>12}{'cores':>12}"
    )
    lines += [header, sub, "-" * len(header)]
    other_max = 0.0
    any_disturbed = False
    for res, modes in result["results"].items():
        for mode, r in modes.items():
            s, p, at = r["single"], r["paced"], r["at_capacity"]
            live = f"{'>=' if p['capped'] else ''}{p['streams']}"
            if p["first_failing"] is not None:
                failed = next(x for x in p["probes"] if x["streams"] == p["first_failing"])
                live += f" ({p['first_failing']}{'*' if failed.get('disturbed') else ''} no)"
                any_disturbed = any_disturbed or bool(failed.get("disturbed"))
            other = at["other_load_cores"] if at and at["other_load_cores"] is not None else None
            other_max = max(other_max, other or 0.0)
            cpu_at_n = f"{at['cpu_pct_per_stream']:.2f}" if at else "-"
            other_txt = f"{other:.2f}" if other is not None else "-"
            lines.append(
                f"{res:<6}{mode:<10}{s['decoded_fps']:>10.0f}{s['realtime_factor']:>7.1f}x"
                f"{s['cpu_pct_per_stream']:>11.2f}%{s['predicted_streams']:>11d}{live:>14}"
                f"{cpu_at_n:>12}{other_txt:>12}"
            )
    lines += [
        "",
        "1 thread: one stream decoded flat out on one core. CPU/stream: CPU seconds per second of",
        "video = share of one core a live stream costs. predicted: usable cores / that share.",
        f"live streams: largest N run paced at 25 fps (key frames staggered) with every stream at most "
        f"{result['params']['tolerance_s']:g} s",
        "behind at the end (key: none a key frame behind, mean <= that); '(M no)' is the smallest N",
        "that fell behind. other load: cores used by other processes during that run.",
        f"BGR conversion: {result['params']['bgr_conversion']}.",
    ]
    if any_disturbed:
        lines.append("* that run was disturbed by other processes (reruns too): the true limit may be higher.")
    if other_max > 0.25:
        lines.append(f"WARNING: other processes used up to {other_max:.2f} cores; live-stream counts are low.")
    return "\n".join(lines)


def write_result(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Params()
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (1 s clips, a few seconds)")
    parser.add_argument("--seconds", type=float, help=f"clip length in seconds (default {d.seconds:g})")
    parser.add_argument(
        "--run-seconds", type=float, help=f"length of each paced run after the stagger (default {d.run_seconds:g})"
    )
    parser.add_argument("--repeats", type=int, help=f"single-stream passes, median kept (default {d.repeats})")
    parser.add_argument("--max-streams", type=int, help=f"ceiling for the paced search (default {d.max_streams})")
    parser.add_argument("--max-probes", type=int, help=f"paced runs per resolution x mode (default {d.max_probes})")
    parser.add_argument(
        "--tolerance",
        type=float,
        dest="tolerance_s",
        help=f"seconds a stream may be behind and still count as live (default {d.tolerance_s:g})",
    )
    parser.add_argument("--resolutions", help=f"comma list of {', '.join(RESOLUTIONS)} (default all)")
    parser.add_argument("--modes", help=f"comma list of {', '.join(MODES)} (default all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")


def params_from_args(args: argparse.Namespace) -> Params:
    params = Params.quick_params() if args.quick else Params()
    overrides: dict[str, Any] = {
        k: getattr(args, k, None)
        for k in ("seconds", "run_seconds", "repeats", "max_streams", "max_probes", "tolerance_s")
    }
    for k in ("resolutions", "modes"):
        value = getattr(args, k, None)
        overrides[k] = tuple(v.strip() for v in value.split(",") if v.strip()) if value else None
    return replace(params, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    try:
        params = params_from_args(args)
        params.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Imported here: videohub.bench.common imports this module.
    from videohub.bench.common import report

    result = measure(params, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    return report(result, format_table(result), args.out)


def main(argv: Sequence[str] | None = None) -> int:
    from videohub.bench.common import script_main

    return script_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
