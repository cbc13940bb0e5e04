"""What the model and pipeline benchmarks share: machine facts, CPU accounting, latency
summaries, and finding (and starting) a Python that has Ultralytics.

Ultralytics and torch are never imported into the hub's own process: they live in another
environment (the optional extra may not be installed here, and importing torch would change
this process' threads and memory). Comparisons run them in a child process of that Python,
which imports this same `videohub` package through PYTHONPATH (see `worker_env`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from videohub.bench import ingest
from videohub.bench.timing import process_cpu_s, system_busy_s

ULTRALYTICS_PYTHON_ENV = "VIDEOHUB_ULTRALYTICS_PYTHON"
NOT_INSTALLED = "not installed"
# Every percentile the tables and JSON report, of latencies in milliseconds.
PERCENTILES = (50, 90, 99)


def machine_info() -> dict[str, Any]:
    """The ingest benchmark's machine record plus what runs the models."""
    info = ingest.machine_info()
    info["onnxruntime"] = ort.__version__
    info["onnxruntime_providers"] = list(ort.get_available_providers())
    return info


def finish_machine_info(machine: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        machine["loadavg_at_end"] = list(os.getloadavg())


# --------------------------------------------------------------------------- CPU accounting


@dataclass
class CpuSample:
    """A point in time: wall clock, this process' CPU time, other processes' CPU time, the machine's."""

    wall: float
    own: float
    others: dict[int, float | None]
    system: float | None

    @classmethod
    def take(cls, pids: Sequence[int] = ()) -> CpuSample:
        return cls(time.perf_counter(), time.process_time(), {p: process_cpu_s(p) for p in pids}, system_busy_s())


def cpu_between(a: CpuSample, b: CpuSample) -> dict[str, Any]:
    """Cores used between two samples: by this process, by each watched process, and by
    everything else on the machine (`other_load_cores`: the noise in the figures)."""
    wall = max(b.wall - a.wall, 1e-9)
    own = (b.own - a.own) / wall
    watched: dict[str, float | None] = {}
    for pid, before in a.others.items():
        after = b.others.get(pid)
        watched[str(pid)] = None if before is None or after is None else (after - before) / wall
    other: float | None = None
    if a.system is not None and b.system is not None:
        # /proc/stat counts in clock ticks: tiny negative results are rounding, not load.
        other = max(0.0, (b.system - a.system) / wall - own - sum(v or 0.0 for v in watched.values()))
    return {"wall_s": wall, "cores": own, "watched_cores": watched, "other_load_cores": other}


# --------------------------------------------------------------------------- statistics


def summarize_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """Percentiles, mean and extremes of durations given in seconds, in milliseconds.

    `n` is part of the summary on purpose: a p99 of twenty samples is their maximum."""
    if not seconds:
        return {"n": 0, **{f"p{q}": None for q in PERCENTILES}, "mean": None, "min": None, "max": None}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    out: dict[str, Any] = {"n": int(ms.size)}
    for q in PERCENTILES:
        out[f"p{q}"] = round(float(np.percentile(ms, q)), 2)
    out["mean"] = round(float(ms.mean()), 2)
    out["min"] = round(float(ms.min()), 2)
    out["max"] = round(float(ms.max()), 2)
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0 or not math.isfinite(a) or not math.isfinite(b):
        return None
    return round(a / b, 3)


def fmt(value: float | None, spec: str = ".1f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def parse_hw(text: str) -> tuple[int, int]:
    """'640' -> (640, 640); '384x640' -> (384, 640) as (height, width)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"size {text!r}: expected N or HxW (e.g. 640 or 384x640)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise ValueError(f"size {text!r}: expected N or HxW (e.g. 640 or 384x640)")
    return values[0], values[1]


def parse_resolution(text: str) -> tuple[int, int]:
    """'720p' / '1080p' / 'WIDTHxHEIGHT' -> (width, height); even sizes, as H.264 4:2:0 needs."""
    named = {"360p": (640, 360), "480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
    key = text.strip().lower()
    if key in named:
        return named[key]
    try:
        w, h = (int(v) for v in key.split("x"))
    except ValueError:
        raise ValueError(f"resolution {text!r}: expected 720p, 1080p or WIDTHxHEIGHT") from None
    if not (16 <= w <= 7680 and 16 <= h <= 7680) or w % 2 or h % 2:
        raise ValueError(f"resolution {text!r}: width and height must be even and between 16 and 7680")
    return w, h


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected a comma list of integers") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} {text!r}: expected positive integers")
    return values


# --------------------------------------------------------------------------- Ultralytics in a child process


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: this `videohub` first on its path, so the child runs
    the same code as we do whatever its own site-packages hold."""
    import videohub

    src = str(Path(videohub.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.update(extra or {})
    return env


_PROBE = (
    "import importlib.util, sys\n"
    "missing = [m for m in ('ultralytics', 'torch', 'onnxruntime', 'cv2') if importlib.util.find_spec(m) is None]\n"
    "print(','.join(missing))\n"
)


@dataclass(frozen=True)
class UltralyticsPython:
    """Where Ultralytics is to run: `python` is None when none was found; `status` is "ok",
    "not installed" or "disabled", and `detail` says which interpreter was asked and why not."""

    python: str | None
    status: str
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "python": self.python, "detail": self.detail}


def find_ultralytics_python(explicit: str | None, enabled: bool = True) -> UltralyticsPython:
    """The Python to run Ultralytics with: the one given (option or $VIDEOHUB_ULTRALYTICS_PYTHON),
    else this interpreter; checked by asking it whether it can import ultralytics and torch
    (without importing them: that takes seconds)."""
    if not enabled:
        return UltralyticsPython(None, "disabled", "comparison not asked for")
    candidate = explicit or os.environ.get(ULTRALYTICS_PYTHON_ENV) or sys.executable
    try:
        done = subprocess.run(
            [candidate, "-c", _PROBE], capture_output=True, text=True, timeout=60, env=worker_env(), check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return UltralyticsPython(None, NOT_INSTALLED, f"{candidate}: {exc}")
    if done.returncode != 0:
        return UltralyticsPython(None, NOT_INSTALLED, f"{candidate} failed: {done.stderr.strip()[-200:]}")
    missing = done.stdout.strip()
    if missing:
        return UltralyticsPython(None, NOT_INSTALLED, f"{candidate} lacks {missing.replace(',', ', ')}")
    return UltralyticsPython(candidate, "ok", candidate)


def report(result: dict[str, Any], table: str, out: str | Path) -> int:
    """Prints a benchmark's table, writes its JSON and says where: the end of every `run`."""
    print(table)
    ingest.write_result(result, Path(out))
    print(f"\nwrote {out} ({result['elapsed_s']:.0f} s)")
    return 0


def measure_and_report(
    args: argparse.Namespace,
    params_from_args: Callable[[argparse.Namespace], Any],
    measure: Callable[..., dict[str, Any]],
    format_table: Callable[[dict[str, Any]], str],
    errors: tuple[type[BaseException], ...] = (ValueError,),
) -> int:
    """The body of every benchmark's `run`: options to parameters, measure (progress on stderr),
    print and save; one of `errors` is a usage or set-up problem, printed as `error: ...` (exit 2)."""
    try:
        params = params_from_args(args)
        params.validate()
        result = measure(params, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return report(result, format_table(result), args.out)


def script_main(
    doc: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """`python -m videohub.bench.X` and `benchmarks/X.py`: the same options as `videohub bench X`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))
