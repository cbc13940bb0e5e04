#!/usr/bin/env python
"""N simulated RTSP cameras through the real hub (ingest + detection), optionally against
Ultralytics' streaming predict on the same streams in the same run.

Same as ``videohub bench pipeline``; from a checkout it runs the checkout's code:

    python benchmarks/pipeline.py --model yolov8n.onnx --cameras 8   # ~1 min, writes benchmarks/results/pipeline.json
    python benchmarks/pipeline.py --model yolov8n.onnx --compare ultralytics --ultralytics-python venv/bin/python
    python benchmarks/pipeline.py --model yolov8n.onnx --quick       # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "videohub").is_dir():
    # Prefer the checkout over whatever version happens to be installed.
    sys.path.insert(0, str(ROOT / "src"))

from videohub.bench import pipeline  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=pipeline.__doc__.split("\n\n")[0] if pipeline.__doc__ else None)
    pipeline.add_arguments(parser)
    # Results belong next to this script, wherever it is run from.
    parser.set_defaults(out=ROOT / "benchmarks" / "results" / "pipeline.json")
    return pipeline.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
