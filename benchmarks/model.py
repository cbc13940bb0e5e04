#!/usr/bin/env python
"""How close the hub's detector comes to a model's bare onnxruntime speed, and to Ultralytics.

Same as ``videohub bench model``; from a checkout it runs the checkout's code:

    python benchmarks/model.py --model yolov8n.onnx              # ~2 minutes, writes benchmarks/results/model.json
    python benchmarks/model.py --model yolov8n.onnx --imgsz 384x640 --ultralytics-python /path/to/venv/bin/python
    python benchmarks/model.py --model yolov8n.onnx --quick      # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "videohub").is_dir():
    # Prefer the checkout over whatever version happens to be installed.
    sys.path.insert(0, str(ROOT / "src"))

from videohub.bench import model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=model.__doc__.split("\n\n")[0] if model.__doc__ else None)
    model.add_arguments(parser)
    # Results belong next to this script, wherever it is run from.
    parser.set_defaults(out=ROOT / "benchmarks" / "results" / "model.json")
    return model.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
