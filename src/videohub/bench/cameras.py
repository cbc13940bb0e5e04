"""Simulated RTSP cameras for the pipeline benchmark, served from a child process.

The cameras are the project's own: `PatternFeed`'s picture on the project's `RtspServer`.
Two ways to feed them:

- `clip` (default): the pattern is rendered and encoded once, with PatternFeed's encoder
  settings (libx264 ultrafast, zerolatency, one key frame per second, no B-frames), into an
  MP4 that every camera plays in a loop in real time without re-encoding (`FileFeed`). The
  cameras then cost next to nothing, so the machine's cores measure the hub.
- `live`: one `PatternFeed` per camera, encoding in real time as the demo's cameras do. At
  720p that costs about 13 % of a core per camera (README), which on a small machine is
  taken from the hub being measured.

Either way the server runs in its own process, so the hub's CPU time (process CPU time /
wall) is the hub's alone, and the server's own CPU use is read from /proc and reported.
Camera i is started (subscribed to) i/N of a GOP after camera 0, so that key frames are
staggered as those of independent cameras are, instead of arriving all at once.

    python -m videohub.bench.cameras --cameras 8 --clip pattern.mp4   # prints {"port": ...}, serves until stdin closes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import av
import numpy as np

from videohub.rtsp.feed import AccessUnit
from videohub.rtsp.server import RtspServer
from videohub.simulate.base import FeedSubscription, SimulatedFeed
from videohub.simulate.file import FileFeed
from videohub.simulate.pattern import PatternFeed
from videohub.simulate.scene import SceneRenderer

SOURCES = ("clip", "live")


def camera_name(i: int) -> str:
    return f"cam{i + 1:02d}"


def make_camera_clip(path: Path, width: int, height: int, fps: int, seconds: float) -> Path:
    """The demo's city scene (walkers, a burning window: what a street camera sees, unlike the
    test pattern), encoded as PatternFeed's H264Encoder does, into an MP4 `FileFeed` can loop."""
    renderer = SceneRenderer(width, height, "bench")
    frames = max(fps, round(seconds * fps))
    # A synthetic clock: the clip loops.
    return encode_clip(path, (renderer.render(i, fps, i / fps) for i in range(frames)), width, height, fps)


def encode_clip(path: Path, images: Iterable[np.ndarray], width: int, height: int, fps: int) -> Path:
    """BGR images encoded as PatternFeed's H264Encoder does (libx264 ultrafast, zerolatency,
    a key frame a second, no B-frames) into an MP4."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.max_b_frames = 0
        stream.codec_context.thread_count = 0  # set-up, not measured: use every core
        stream.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
        }
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


# --------------------------------------------------------------------------- child side


def serve(
    cameras: int, clip: str | None, width: int, height: int, fps: int, gop_s: float, out: IO[str], wait: IO[str]
) -> int:
    feeds: dict[str, SimulatedFeed] = {}
    for i in range(cameras):
        name = camera_name(i)
        feeds[name] = FileFeed(clip, name=name) if clip else PatternFeed(width, height, fps, name=name)
    server = RtspServer(lambda path: feeds.get(path.split("/")[0]), host="127.0.0.1", port=0)
    server.start()
    holds: list[FeedSubscription] = []
    try:
        # A subscription starts a feed's producer; staggered starts stagger the key frames.
        for i, feed in enumerate(feeds.values()):
            if i:
                time.sleep(gop_s / cameras)
            holds.append(feed.subscribe(_discard))
        out.write(json.dumps({"port": server.port, "paths": list(feeds)}) + "\n")
        out.flush()
        wait.read()  # until the parent closes our stdin (or dies)
    finally:
        for sub in holds:
            sub.close()
        server.stop()
        for feed in feeds.values():
            feed.close()
    return 0


def _discard(_unit: AccessUnit) -> None:
    """The sink of the subscriptions that keep the feeds running."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve simulated cameras for the pipeline benchmark (internal)")
    parser.add_argument("--cameras", type=int, required=True)
    parser.add_argument("--clip", help="MP4 to loop on every camera; without it, live PatternFeeds")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop-seconds", type=float, default=1.0, help="key frame interval, for the stagger")
    args = parser.parse_args(argv)
    return serve(args.cameras, args.clip, args.width, args.height, args.fps, args.gop_seconds, sys.stdout, sys.stdin)


# --------------------------------------------------------------------------- parent side


class CameraServerProcess:
    """Starts the child, knows its URLs and pid, stops it."""

    def __init__(
        self,
        cameras: int,
        width: int,
        height: int,
        fps: int,
        clip: Path | None,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "videohub.bench.cameras",
            "--cameras",
            str(cameras),
            "--width",
            str(width),
            "--height",
            str(height),
            "--fps",
            str(fps),
        ]
        if clip is not None:
            cmd += ["--clip", str(clip)]
        self._log = log_path.open("w")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"camera server did not start: {self.log_tail()}")
        info: dict[str, Any] = json.loads(line)
        self.port: int = int(info["port"])
        self.paths: list[str] = [str(p) for p in info["paths"]]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def urls(self) -> list[str]:
        return [f"rtsp://127.0.0.1:{self.port}/{p}" for p in self.paths]

    def log_tail(self, chars: int = 400) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip()
        return text[-chars:] if text else "no output"

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


if __name__ == "__main__":
    sys.exit(main())
