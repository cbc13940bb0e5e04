#!/usr/bin/env python
"""Event ingest rate through the API and list/filter latency with 100k and 1M stored events, on SQLite and PostgreSQL.

Same as ``videohub bench events``; from a checkout it runs the checkout's code:

    python benchmarks/events.py            # ~4 minutes on 2 cores, writes benchmarks/results/events.json
    python benchmarks/events.py --quick    # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "videohub").is_dir():
    # Prefer the checkout over whatever version happens to be installed.
    sys.path.insert(0, str(ROOT / "src"))

from videohub.bench import events  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=events.__doc__.split("\n\n")[0] if events.__doc__ else None)
    events.add_arguments(parser)
    # Results belong next to this script, wherever it is run from.
    parser.set_defaults(out=ROOT / "benchmarks" / "results" / "events.json")
    return events.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
