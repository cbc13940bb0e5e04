"""Motion-gate benchmark: on mostly-still scenes, how many model runs the gate saves, and what
it costs in missed moving objects.

For each still share (by default 50 %, 80 % and 95 % of the time without anything moving) it
renders a street-scene clip: the empty street (fixed textured wall and pavement, the camera
name and a clock with milliseconds burnt in, as CCTV on-screen displays are), with windows of
activity in which one person walks across. The clip is encoded to H.264 and decoded with PyAV,
so the gate sees real codec noise and key-frame pumping, not clean renders. Then, as the
analytics sampler does, it takes frames at `--sample-fps` and asks the hub's motion gate
(`MotionGate` with the sampler's defaults: `motion_threshold` of `DetectSettings`) whether
the frame moved; the model (`hog-people` by default, the demo's person detector) runs on every
sampled frame for reference, and the gated run keeps the detections of the frames the gate let
through (the built-in detectors are stateless per frame, so that is what a gated run finds).

Reported per still share:
* still share, measured: sampled frames with no person in the picture (ground truth from the
  renderer), and the share of model runs the gate cut: ideally the same;
* still frames the gate let through (false alarms: clock digits, codec noise), and frames
  with a person the gate skipped;
* detections of a person (IoU >= 0.3 with the ground truth) with and without the gate, the
  ones lost, and the walks (activity windows) in which a person was found at all;
* the gate's own cost per frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

from videohub.bench.cameras import encode_clip
from videohub.bench.common import (
    finish_machine_info,
    fmt,
    machine_info,
    measure_and_report,
    parse_resolution,
    script_main,
)
from videohub.config import DetectSettings, ModelConfig
from videohub.detect.base import Detection, ModelError, box_iou
from videohub.detect.classic.motion import MotionGate
from videohub.detect.models import build_detector
from videohub.simulate.scene import SceneRenderer, Walker

DEFAULT_OUT = Path("benchmarks/results/motion.json")
MATCH_IOU = 0.3  # a detection counts as the person when it overlaps the true box this much
WALK_S = 8.0  # about how long one walk across lasts; the activity is cut into walks of this length

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Params:
    still: tuple[float, ...] = (0.5, 0.8, 0.95)
    seconds: float = 120.0
    resolution: str = "720p"
    fps: int = 25
    sample_fps: float = 5.0
    threshold: float = DetectSettings().motion_threshold
    model: str = "hog-people"
    quick: bool = False

    @classmethod
    def quick_params(cls, **kw: Any) -> Params:
        return cls(still=(0.75,), seconds=12.0, resolution="320x240", quick=True, **kw)

    def validate(self) -> None:
        if not self.still or any(not 0.0 <= s < 1.0 for s in self.still):
            raise ValueError("--still shares must be in [0, 1)")
        if self.seconds < 2 or self.fps < 1 or not 0 < self.sample_fps <= self.fps:
            raise ValueError("--seconds must be >= 2 and 0 < --sample-fps <= fps")
        if not 0 < self.threshold <= 1:
            raise ValueError("--threshold must be in (0, 1]")
        if self.model not in ("hog-people", "motion", "fire"):
            raise ValueError(f"--model {self.model!r}: one of the built-ins hog-people, motion, fire")
        parse_resolution(self.resolution)


@dataclass(frozen=True)
class Schedule:
    """When somebody walks across: [start, end) frame windows, evenly spread over the clip."""

    windows: tuple[tuple[int, int], ...]

    @classmethod
    def make(cls, frames: int, fps: int, still: float) -> Schedule:
        active = round(frames * (1.0 - still))
        if active <= 0:
            return cls(())
        count = max(1, min(6, round(active / (WALK_S * fps))))
        length = active // count
        gap = (frames - length * count) / count
        starts = [round(gap / 2 + k * (gap + length)) for k in range(count)]
        return cls(tuple((s, s + length) for s in starts))

    def window(self, index: int) -> int | None:
        for k, (start, end) in enumerate(self.windows):
            if start <= index < end:
                return k
        return None


class StillScene:
    """The clip's pictures: the empty street, and one walker per activity window who enters at one
    edge when the window opens and leaves at the other as it closes."""

    def __init__(self, width: int, height: int, fps: int, schedule: Schedule) -> None:
        self.fps = fps
        self.schedule = schedule
        self.empty = SceneRenderer(width, height, "still-street", seed=7, walkers=(), fire=False)
        self.walks: list[SceneRenderer] = []
        for k, (start, end) in enumerate(schedule.windows):
            # Speed so that the crossing (frame width plus the sprite's, ~1.2 widths) fills the window.
            speed = 1.2 / ((end - start) / fps)
            walker = Walker(0.5, 0.9, speed, +1 if k % 2 == 0 else -1, 0.0, (60, 50, 44), (36, 34, 32))
            self.walks.append(SceneRenderer(width, height, "still-street", seed=7, walkers=(walker,), fire=False))

    def _renderer(self, index: int) -> tuple[SceneRenderer, int]:
        k = self.schedule.window(index)
        if k is None:
            return self.empty, index
        return self.walks[k], index - self.schedule.windows[k][0]

    def render(self, index: int) -> np.ndarray:
        renderer, local = self._renderer(index)
        return renderer.render(local, self.fps, index / self.fps)

    def people(self, index: int) -> list[Box]:
        renderer, local = self._renderer(index)
        return renderer.people(local, self.fps)


def _decoded(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24", threads=1)


def _matches(found: list[Detection], truth: list[Box]) -> int:
    return sum(1 for d in found if any(box_iou(d.box, t) >= MATCH_IOU for t in truth))


def measure_still(params: Params, still: float, workdir: Path) -> dict[str, Any]:
    width, height = parse_resolution(params.resolution)
    frames = round(params.seconds * params.fps)
    schedule = Schedule.make(frames, params.fps, still)
    scene = StillScene(width, height, params.fps, schedule)
    images = (scene.render(i) for i in range(frames))
    clip = encode_clip(workdir / f"still-{still:g}.mp4", images, width, height, params.fps)
    detector = build_detector(params.model, ModelConfig(kind=params.model))
    gate = MotionGate()
    step = params.fps / params.sample_fps
    next_sample = 0.0
    sampled = passed = still_frames = still_passed = moving_skipped = 0
    found_all = found_gated = 0
    walks_found_all: set[int] = set()
    walks_found_gated: set[int] = set()
    gate_ms: list[float] = []
    for index, image in enumerate(_decoded(clip)):
        if index + 1e-9 < next_sample:
            continue
        next_sample += step
        sampled += 1
        t0 = time.perf_counter()
        moved = gate.score(image, "bench") >= params.threshold
        gate_ms.append((time.perf_counter() - t0) * 1000)
        truth = scene.people(index)
        passed += moved
        if not truth:
            still_frames += 1
            still_passed += moved
        elif not moved:
            moving_skipped += 1
        hits = _matches(detector.detect([image])[0], truth) if truth else 0
        found_all += hits
        walk = schedule.window(index)
        if hits and walk is not None:
            walks_found_all.add(walk)
        if moved:
            found_gated += hits
            if hits and walk is not None:
                walks_found_gated.add(walk)
    moving = sampled - still_frames
    return {
        "still_target": still,
        "walks": len(schedule.windows),
        "sampled_frames": sampled,
        "still_frames": still_frames,
        "frames_with_person": moving,
        "still_share": round(still_frames / sampled, 4) if sampled else None,
        "model_runs_ungated": sampled,
        "model_runs_gated": passed,
        "runs_cut": round(1 - passed / sampled, 4) if sampled else None,
        "still_frames_let_through": still_passed,
        "frames_with_person_skipped": moving_skipped,
        "person_detections_ungated": found_all,
        "person_detections_gated": found_gated,
        "person_detections_lost": found_all - found_gated,
        "walks_found_ungated": len(walks_found_all),
        "walks_found_gated": len(walks_found_gated),
        "gate_ms_p50": round(statistics.median(gate_ms), 3) if gate_ms else None,
    }


def measure(params: Params, workdir: Path | None = None, log: Any = None) -> dict[str, Any]:
    params.validate()
    machine = machine_info()
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for still in params.still:
            if log:
                log(f"still share {still:g}: rendering, encoding and gating {params.seconds:g} s ...")
            results.append(measure_still(params, still, Path(tmp)))
    finish_machine_info(machine)
    return {
        "benchmark": "motion",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "params": {**asdict(params), "match_iou": MATCH_IOU},
        "results": results,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def format_table(result: dict[str, Any]) -> str:
    p = result["params"]
    lines = [
        f"videohub motion-gate benchmark - {p['resolution']} street scene, {p['seconds']:g} s per clip, "
        f"sampled at {p['sample_fps']:g} fps, gate threshold {p['threshold']:g}, model {p['model']}",
        "",
    ]
    header = (
        f"{'still':>6}{'runs':>7}{'gated':>7}{'cut':>7}{'still fp':>9}{'person':>8}{'skipped':>9}"
        f"{'dets':>6}{'gated':>7}{'lost':>6}{'walks':>7}{'gate ms':>9}"
    )
    lines += [header, "-" * len(header)]
    for r in result["results"]:
        lines.append(
            f"{fmt(r['still_share'], '.0%'):>6}{r['model_runs_ungated']:>7}{r['model_runs_gated']:>7}"
            f"{fmt(r['runs_cut'], '.0%'):>7}{r['still_frames_let_through']:>9}{r['frames_with_person']:>8}"
            f"{r['frames_with_person_skipped']:>9}{r['person_detections_ungated']:>6}"
            f"{r['person_detections_gated']:>7}{r['person_detections_lost']:>6}"
            f"{r['walks_found_gated']:>4}/{r['walks']:<2}{fmt(r['gate_ms_p50'], '.2f'):>9}"
        )
    lines += [
        "",
        "still: sampled frames with nobody in the picture. runs/gated: model runs without and with the gate;",
        "cut: runs saved (ideally the still share). still fp: still frames the gate let through. person /",
        "skipped: frames with a person, and those the gate skipped. dets/gated/lost: detections of the person",
        "without and with the gate, and lost to it. walks: walks across in which the gated run found the",
        "person / walks. gate ms: the gate's median cost per frame.",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Params()
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds (one small clip)")
    parser.add_argument("--still", help=f"comma list of still shares (default {','.join(f'{s:g}' for s in d.still)})")
    parser.add_argument("--seconds", type=float, help=f"clip length per still share (default {d.seconds:g})")
    parser.add_argument("--resolution", help=f"720p, 1080p or WxH (default {d.resolution})")
    parser.add_argument("--sample-fps", type=float, help=f"analytics fps (default {d.sample_fps:g})")
    parser.add_argument("--threshold", type=float, help=f"gate threshold, share of pixels (default {d.threshold:g})")
    parser.add_argument("--model", help=f"built-in detector run on the frames (default {d.model})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")


def params_from_args(args: argparse.Namespace) -> Params:
    params = Params.quick_params() if args.quick else Params()
    overrides: dict[str, Any] = {
        k: getattr(args, k) for k in ("seconds", "resolution", "sample_fps", "threshold", "model") if getattr(args, k)
    }
    if args.still:
        try:
            overrides["still"] = tuple(float(v) for v in args.still.split(","))
        except ValueError:
            raise ValueError(f"--still {args.still!r}: expected a comma list of numbers") from None
    return replace(params, **overrides)


def run(args: argparse.Namespace) -> int:
    return measure_and_report(args, params_from_args, measure, format_table, (ValueError, ModelError))


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
