"""Shared by the benchmark smoke tests: run a benchmark's CLI in --quick mode."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import ModuleType
from typing import Any


def run_quick(bench: ModuleType, out: Path, *extra: str) -> tuple[int, dict[str, Any] | None]:
    """Runs `bench` as `videohub bench X --quick` would; returns its exit code and JSON."""
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    rc = bench.run(parser.parse_args(["--quick", "--out", str(out), *extra]))
    return rc, json.loads(out.read_text()) if out.exists() else None
