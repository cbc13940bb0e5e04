"""Ultralytics' side of the benchmarks, run in a child process of a Python that has it.

    python -m videohub.bench.ultralytics_worker predict    # JSON-lines server for `bench model`
    python -m videohub.bench.ultralytics_worker stream ... # one streaming run for `bench pipeline`

`predict` answers one JSON line per request line on stdin: `load` (model, frames, imgsz and
thresholds), `run` (a timed block of predict calls on `batch` frames, timed by the same loop as
the hub's measurements, `timing.time_calls`), `quit`. Keeping the child alive between blocks
lets the parent interleave the hub's and Ultralytics' blocks in rounds, so drifting load on a
shared machine hits both alike.

`stream` runs Ultralytics' streaming predict (`predict(source="x.streams", stream=True)`, its
LoadStreams: one OpenCV reader thread per stream, the newest frame of every stream batched
together each iteration) and measures results per second and the latency from frame arrival
to result. Arrival is stamped when OpenCV's `grab()` returns for the frame (packet received
and decoded; the hub stamps on packet receipt, before decoding, so Ultralytics' latency lacks
one frame's decode time, a few ms at 720p) and tied to the image object Ultralytics hands on,
which its Results keep as `orig_img`.

Replies go to the original stdout; everything else the child prints (Ultralytics, OpenCV,
FFmpeg) is sent to stderr, so nothing can corrupt the replies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from videohub.bench.timing import process_cpu_s, system_busy_s, time_calls


def _reply_channel() -> IO[str]:
    """A private copy of stdout for replies; fd 1 itself then points at stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)
    return out


def _versions() -> dict[str, Any]:
    import onnxruntime
    import torch
    import ultralytics

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),  # Ultralytics may change it while predicting
        "onnxruntime": onnxruntime.__version__,
        "torchvision": None,
        "torchvision_compiled_ops": None,
    }
    try:
        import torchvision
        from torchvision.extension import _has_ops

        info["torchvision"] = torchvision.__version__
        # Without its compiled ops (a CUDA torchvision beside a CPU torch), NMS runs in plain
        # torch (see videohub.detect.export.prepare_ultralytics): slower, and it shows in
        # Ultralytics' postprocess time.
        info["torchvision_compiled_ops"] = bool(_has_ops())
    except Exception:  # torchvision absent or changed: the figure is only informative
        pass
    return info


def _stage_ms(speeds: list[dict[str, float]]) -> dict[str, float | None]:
    """Median per-image milliseconds of Ultralytics' own stage timings (Results.speed)."""
    out: dict[str, float | None] = {}
    for stage in ("preprocess", "inference", "postprocess"):
        values = sorted(float(s[stage]) for s in speeds if s.get(stage) is not None)
        out[stage] = round(values[len(values) // 2], 2) if values else None
    return out


def _yolo(model: str) -> Any:
    from videohub.detect.export import prepare_ultralytics

    prepare_ultralytics()  # offline, no writes to the home folder, CPU NMS if torchvision's ops do not load
    from ultralytics import YOLO

    return YOLO(model, task="detect")


# --------------------------------------------------------------------------- predict (bench model)


class _Predictor:
    """Ultralytics' predict on lists of BGR frames, as `videohub.detect.export.UltralyticsPredictor`
    calls it (boxes brought back to numpy, as a caller would), with imgsz as (h, w)."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.speeds: list[dict[str, float]] = []
        self.model = _yolo(str(req["model"]))
        self.frames: np.ndarray = np.load(str(req["frames"]))
        self.imgsz = [int(v) for v in req["imgsz"]]
        self.conf, self.iou, self.max_det = float(req["conf"]), float(req["iou"]), int(req["max_det"])

    def predict(self, images: Sequence[np.ndarray]) -> int:
        results = self.model.predict(
            source=list(images),
            imgsz=self.imgsz,
            conf=self.conf,
            iou=self.iou,
            max_det=self.max_det,
            device="cpu",
            verbose=False,
            save=False,
        )
        for r in results:
            r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy(), r.boxes.cls.cpu().numpy()
        if results:
            self.speeds.append(dict(results[0].speed))
        return len(results)

    def batch(self, i: int, size: int, offset: int) -> list[np.ndarray]:
        n = len(self.frames)
        return [self.frames[(offset + i * size + k) % n] for k in range(size)]

    def input_shape(self, size: int) -> list[int]:
        """The tensor Ultralytics' own preprocessing makes of `size` frames (rect or not)."""
        predictor = self.model.predictor
        return [int(v) for v in predictor.preprocess(self.batch(0, size, 0)).shape]

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        size, offset = int(req["batch"]), int(req.get("offset", 0))
        self.speeds = []
        block = time_calls(
            lambda i: self.predict(self.batch(i, size, offset)), float(req["seconds"]), int(req["min_calls"])
        )
        import torch

        return {
            **block.to_json(),
            "input_shape": self.input_shape(size),
            "stage_ms_per_image": _stage_ms(self.speeds),
            "torch_threads": torch.get_num_threads(),
        }


def serve_predict(inp: IO[str], out: IO[str]) -> int:
    predictor: _Predictor | None = None
    for line in inp:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                return 0
            if op == "load":
                t0 = time.perf_counter()
                predictor = _Predictor(req)
                reply: dict[str, Any] = {"versions": _versions(), "load_s": time.perf_counter() - t0}
            elif op == "run":
                if predictor is None:
                    raise RuntimeError("run before load")
                reply = predictor.run(req)
            else:
                raise ValueError(f"unknown op {op!r}")
            out.write(json.dumps({"ok": True, **reply}) + "\n")
        except Exception as exc:  # report to the parent, keep serving: one batch size may fail alone
            traceback.print_exc()
            out.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
    return 0


# --------------------------------------------------------------------------- stream (bench pipeline)


class _Arrivals:
    """When each frame OpenCV handed Ultralytics arrived, keyed by the image object itself.

    Entries go when their image is garbage collected, so an id is never confused with a
    later image's that reuses it, and memory stays bounded."""

    def __init__(self, streams: int) -> None:
        self._at: dict[int, tuple[float, int]] = {}
        self.reads = [0] * streams  # frames each stream's reader produced
        self._lock = threading.Lock()
        self._next_index = 0

    def next_index(self) -> int:
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
            return index

    def stamp(self, image: Any, at: float, stream: int) -> None:
        if not isinstance(image, np.ndarray) or stream >= len(self.reads):
            return
        self.reads[stream] += 1
        key = id(image)
        self._at[key] = (at, stream)
        weakref.finalize(image, self._at.pop, key, None)

    def get(self, image: Any) -> tuple[float, int] | None:
        return self._at.get(id(image))


class _TimedCapture:
    """Wraps a cv2.VideoCapture and stamps the frames it returns; everything else is passed on.

    A wrapper, not a subclass: a Python subclass of OpenCV's capture type crashed the
    interpreter when the garbage collector freed it."""

    def __init__(self, capture: Any, arrivals: _Arrivals) -> None:
        self._capture = capture
        self._arrivals = arrivals
        self._stream = arrivals.next_index()
        self._grabbed_at = time.time()

    def grab(self) -> bool:
        ok = bool(self._capture.grab())
        self._grabbed_at = time.time()
        return ok

    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        ok, image = self._capture.retrieve(*args, **kwargs)
        if ok:
            self._arrivals.stamp(image, self._grabbed_at, self._stream)
        return ok, image

    def read(self, *args: Any, **kwargs: Any) -> Any:
        ok, image = self._capture.read(*args, **kwargs)
        if ok:
            self._arrivals.stamp(image, time.time(), self._stream)
        return ok, image

    def __getattr__(self, name: str) -> Any:  # isOpened, get, open, release, ...
        return getattr(self._capture, name)


def _install_timed_capture(arrivals: _Arrivals) -> None:
    """Makes every cv2.VideoCapture opened from now on in this process stamp its frames.

    Ultralytics' LoadStreams opens one capture per stream in the order of the streams file and
    calls grab() then retrieve() (read() for the first frame); their behaviour is unchanged."""
    import cv2

    original = cv2.VideoCapture

    def open_capture(*args: Any, **kwargs: Any) -> _TimedCapture:
        return _TimedCapture(original(*args, **kwargs), arrivals)

    setattr(cv2, "VideoCapture", open_capture)  # noqa: B010 - replacing a class attribute of the module


def run_stream(args: argparse.Namespace) -> dict[str, Any]:
    urls = [u for u in Path(args.streams).read_text().split() if u]
    n = len(urls)
    arrivals = _Arrivals(n)
    _install_timed_capture(arrivals)
    model = _yolo(args.model)
    load_started = time.time()
    results = model.predict(
        source=args.streams,
        stream=True,
        imgsz=[int(v) for v in args.imgsz],
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        device="cpu",
        verbose=False,
    )
    latencies: list[list[float]] = [[] for _ in range(n)]
    speeds: list[dict[str, float]] = []
    processed = [0] * n
    unmatched = 0
    batches = 0
    input_shape: list[int] | None = None
    t0 = t1 = None
    first_result: float | None = None
    cpu0 = wall0 = 0.0
    reads0: list[int] = []
    busy0: float | None = None
    watched0: float | None = None
    for k, r in enumerate(results):
        now = time.time()
        if first_result is None:
            first_result = now
            t0 = now + args.warmup
            t1 = t0 + args.seconds
        assert t0 is not None and t1 is not None
        if now < t0:
            continue
        if not reads0:  # the window opens at the first result past the warm-up
            if model.predictor is not None:
                input_shape = [int(v) for v in model.predictor.preprocess([r.orig_img]).shape[2:]]
            busy0, watched0 = system_busy_s(), process_cpu_s(args.watch_pid) if args.watch_pid else None
            cpu0, wall0, reads0 = time.process_time(), time.perf_counter(), list(arrivals.reads)
        if now >= t1:
            break
        stream = k % n  # every iteration yields one result per stream, in the streams' order
        if stream == 0:
            batches += 1
            speeds.append(dict(r.speed))
        processed[stream] += 1
        arrived = arrivals.get(r.orig_img)
        if arrived is None:
            unmatched += 1
        else:
            latencies[stream].append(now - arrived[0])
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    busy1, watched1 = system_busy_s(), process_cpu_s(args.watch_pid) if args.watch_pid else None
    # Closing the generator runs Ultralytics' own clean-up: LoadStreams' reader threads are
    # stopped and joined before their captures are released. Left running, they decode on
    # while the process winds down (and have crashed it).
    results.close()
    if not reads0:
        raise RuntimeError(f"no result within the warm-up and the {args.seconds:g} s after it")
    reads = [b - a for a, b in zip(reads0, arrivals.reads, strict=True)] if reads0 else [0] * n
    return {
        "ok": True,
        "versions": _versions(),
        "streams": n,
        "startup_s": (first_result - load_started) if first_result else None,
        "window_s": wall,
        "cpu_s": cpu,
        # The machine's busy CPU seconds and those of the watched process (the camera server) in
        # the same window, so that the parent can tell the load of everything else.
        "system_busy_s": None if busy0 is None or busy1 is None else busy1 - busy0,
        "watched_cpu_s": None if watched0 is None or watched1 is None else watched1 - watched0,
        "batches": batches,
        "batch_size": n,
        "input_hw": input_shape,
        "processed": processed,
        "frames_read": reads,
        "latencies_s": latencies,
        "unmatched": unmatched,
        "stage_ms_per_image": _stage_ms(speeds),
    }


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ultralytics side of videohub's benchmarks (internal)")
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("predict", help="JSON-lines server: load, run, quit")
    s = sub.add_parser("stream", help="one streaming predict run over the RTSP URLs of a .streams file")
    s.add_argument("--model", required=True)
    s.add_argument("--streams", required=True, help="a .streams file, one URL per line")
    s.add_argument("--imgsz", type=int, nargs=2, required=True, metavar=("H", "W"))
    s.add_argument("--conf", type=float, default=0.25)
    s.add_argument("--iou", type=float, default=0.45)
    s.add_argument("--max-det", type=int, default=300)
    s.add_argument("--warmup", type=float, default=5.0)
    s.add_argument("--seconds", type=float, default=20.0)
    s.add_argument("--watch-pid", type=int, help="a process whose CPU use in the window to report")
    args = parser.parse_args(argv)

    out = _reply_channel()
    if args.mode == "predict":
        return serve_predict(sys.stdin, out)
    try:
        result = run_stream(args)
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    out.write(json.dumps(result) + "\n")
    out.flush()
    sys.stderr.flush()
    # LoadStreams' reader threads and OpenCV captures may block in network reads for a while
    # on the way out; the result is written, so leave at once.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
