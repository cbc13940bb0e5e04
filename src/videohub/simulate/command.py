"""`videohub simulate`: serve simulated cameras over RTSP until interrupted.

Camera specs (``--camera NAME[=SPEC]``, repeatable):

- ``pattern``                  moving test pattern, 1280x720 at 25 fps
- ``pattern:WIDTHxHEIGHT``     the same at another size (25 fps)
- ``pattern:WIDTHxHEIGHT@FPS`` ... and frame rate
- ``scene``, ``scene:WIDTHxHEIGHT``, ``scene:WIDTHxHEIGHT@FPS``
                               a city scene the built-in detectors see: walkers
                               and a fire (same defaults as ``pattern``)
- anything else                path of a video file, played in a loop
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from types import FrameType

from videohub.rtsp.server import RtspServer
from videohub.simulate.base import SimulatedFeed
from videohub.simulate.file import FileFeed, MediaFileError
from videohub.simulate.pattern import PatternFeed
from videohub.simulate.scene import SceneFeed

DEFAULT_CAMERAS = {"cam1": "pattern"}
_PATTERN = re.compile(r"pattern(?::(\d+)x(\d+)(?:@(\d+))?)?", re.IGNORECASE)
_SCENE = re.compile(r"scene(?::(\d+)x(\d+)(?:@(\d+))?)?", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*(/[A-Za-z0-9][A-Za-z0-9._~-]*)*")
_MAX_SIDE = 7680


class CameraSpecError(ValueError):
    """A camera name or spec that cannot be turned into a feed."""


def make_feed(name: str, spec: str) -> SimulatedFeed:
    """Build the feed a spec string describes (see the module docstring)."""
    if not _NAME.fullmatch(name):
        raise CameraSpecError(
            f"camera name {name!r} must be letters, digits, '.', '_', '-' or '~' (segments split by '/')"
        )
    spec = spec.strip()
    lowered = spec.lower()
    if lowered.startswith("pattern"):
        width, height, fps = _synthetic_size(spec, _PATTERN, "pattern")
        return PatternFeed(width, height, fps, name=name)
    # Only "scene" and "scene:..." are scenes: a video file may well be called scene.mp4.
    if lowered == "scene" or lowered.startswith("scene:"):
        width, height, fps = _synthetic_size(spec, _SCENE, "scene")
        return SceneFeed(width, height, fps, name=name)
    if not spec:
        raise CameraSpecError(f"camera {name!r}: empty spec")
    try:
        return FileFeed(spec, name=name)
    except FileNotFoundError as exc:
        raise CameraSpecError(f"camera {name!r}: video file not found: {spec}") from exc
    except MediaFileError as exc:
        raise CameraSpecError(f"camera {name!r}: {exc}") from exc


def _synthetic_size(spec: str, pattern: re.Pattern[str], kind: str) -> tuple[int, int, int]:
    """(width, height, fps) of a ``KIND[:WIDTHxHEIGHT[@FPS]]`` spec; 1280x720 at 25 by default."""
    m = pattern.fullmatch(spec)
    if not m:
        raise CameraSpecError(f"camera spec {spec!r}: expected {kind}, {kind}:WIDTHxHEIGHT or {kind}:WIDTHxHEIGHT@FPS")
    width = int(m.group(1)) if m.group(1) else 1280
    height = int(m.group(2)) if m.group(2) else 720
    fps = int(m.group(3)) if m.group(3) else 25
    if not (16 <= width <= _MAX_SIDE and 16 <= height <= _MAX_SIDE) or width % 2 or height % 2:
        raise CameraSpecError(f"camera spec {spec!r}: size must be even and between 16 and {_MAX_SIDE}")
    if not 1 <= fps <= 120:
        raise CameraSpecError(f"camera spec {spec!r}: fps must be between 1 and 120")
    return width, height, fps


def parse_camera_option(value: str) -> tuple[str, str]:
    """Split ``NAME[=SPEC]``; a bare name means a default test pattern."""
    name, sep, spec = value.partition("=")
    name = name.strip().strip("/")
    return name, (spec if sep else "pattern")


def build_feeds(cameras: dict[str, str]) -> dict[str, SimulatedFeed]:
    """Feeds for {name: spec}; raises CameraSpecError on the first bad one."""
    return {name: make_feed(name, spec) for name, spec in cameras.items()}


def start_simulator(cameras: dict[str, str], host: str = "0.0.0.0", port: int = 8554) -> RtspServer:
    """Start an RTSP server serving `cameras` ({name: spec}); the caller stops it.

    Feeds only encode while somebody watches, so idle simulated cameras cost nothing.
    Raises CameraSpecError for a bad spec and OSError if the port is taken.
    """
    feeds = build_feeds(cameras or DEFAULT_CAMERAS)
    server = RtspServer(feeds.get, host=host, port=port)
    server.start()
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `videohub simulate`."""
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (default: 8554)")
    parser.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="NAME[=SPEC]",
        help="camera to serve, repeatable; SPEC is pattern, pattern:WIDTHxHEIGHT[@FPS], scene, "
        "scene:WIDTHxHEIGHT[@FPS] (walkers and a fire the built-in detectors find) or a video file path "
        "(default: one pattern camera 'cam1')",
    )


def run(args: argparse.Namespace) -> int:
    """Serve the cameras until SIGINT/SIGTERM. Exit codes: 0 ok, 1 cannot listen, 2 bad option."""
    cameras: dict[str, tuple[str, str]] = {}  # name -> (spec, option value as given)
    for value in args.camera or []:
        name, spec = parse_camera_option(value)
        if name in cameras:
            print(f"videohub simulate: error: --camera {value!r}: camera {name!r} given twice", file=sys.stderr)
            return 2
        cameras[name] = (spec, value)
    if not cameras:
        cameras = {name: (spec, name) for name, spec in DEFAULT_CAMERAS.items()}
    feeds: dict[str, SimulatedFeed] = {}
    for name, (spec, value) in cameras.items():
        try:
            feeds[name] = make_feed(name, spec)
        except CameraSpecError as exc:
            print(f"videohub simulate: error: invalid --camera {value!r}: {exc}", file=sys.stderr)
            return 2
    server = RtspServer(feeds.get, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"videohub simulate: error: {exc}", file=sys.stderr)
        return 1
    shown_host = "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host
    for name in feeds:
        print(f"{name}: {server.url(name, shown_host)}", flush=True)
    print("serving; press Ctrl+C to stop", flush=True)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    print("stopped", flush=True)
    return 0
