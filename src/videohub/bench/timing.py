"""The timing loop and CPU counters every measurement uses, the hub's and Ultralytics' alike.

Standard library only: the Ultralytics worker imports it in a Python that may have nothing
of the hub's dependencies but numpy, and both sides must time the same way for their
ratios to mean anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Block:
    """One timed block of calls: per-call wall times, frames done, wall and CPU time in total."""

    latencies_s: list[float] = field(default_factory=list)
    frames: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Block:
        return cls(
            latencies_s=[float(v) for v in data["latencies_s"]],
            frames=int(data["frames"]),
            wall_s=float(data["wall_s"]),
            cpu_s=float(data["cpu_s"]),
        )


def time_calls(call: Callable[[int], int], seconds: float, min_calls: int) -> Block:
    """Calls `call(i)` for i = 0, 1, ... until `seconds` have passed and at least `min_calls`
    were made. `call` returns how many frames it handled. CPU time is this process' (all its
    threads: onnxruntime's pool, torch's), so cores used = cpu_s / wall_s."""
    block = Block()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    i = 0
    while True:
        start = time.perf_counter()
        block.frames += call(i)
        end = time.perf_counter()
        block.latencies_s.append(end - start)
        i += 1
        if i >= min_calls and end - t0 >= seconds:
            break
    block.wall_s = time.perf_counter() - t0
    block.cpu_s = time.process_time() - cpu0
    return block


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def system_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (every process), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _CLK_TCK


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = data[data.rfind(")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime (fields 14 and 15)
    except (IndexError, ValueError):
        return None
