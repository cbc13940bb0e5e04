#!/usr/bin/env python
"""How many live 720p/1080p H.264 camera streams this machine decodes in real time.

Same as ``videohub bench ingest``; from a checkout it runs the checkout's code:

    python benchmarks/ingest.py            # ~3 minutes, writes benchmarks/results/ingest.json
    python benchmarks/ingest.py --quick    # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "videohub").is_dir():
    # Prefer the checkout over whatever version happens to be installed.
    sys.path.insert(0, str(ROOT / "src"))

from videohub.bench import ingest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=ingest.__doc__.split("\n\n")[0] if ingest.__doc__ else None)
    ingest.add_arguments(parser)
    # Results belong next to this script, wherever it is run from.
    parser.set_defaults(out=ROOT / "benchmarks" / "results" / "ingest.json")
    return ingest.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
