"""`DetectionEngine`: one per model, shared by every camera that uses it.

Cameras submit their newest frame; the engine gathers what is waiting into batches (up to
`max_batch`, waiting at most `max_wait` seconds for a batch to fill), runs the detector
once per batch and hands each camera its own result. A camera whose previous frame is
still waiting has it replaced, not queued, and the replaced frame is counted as a drop:
a slow model makes the hub skip frames, never fall further and further behind.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from videohub.detect.base import Detection, Detector
from videohub.streams.frame import Frame
from videohub.streams.health import RateMeter

log = logging.getLogger("videohub.detect")

ResultCallback = Callable[[Frame, list[Detection]], None]


@dataclass
class _Job:
    frame: Frame
    on_result: ResultCallback
    conf: float | None
    queued_at: float


@dataclass
class CameraStats:
    submitted: int = 0
    dropped: int = 0  # replaced while waiting for the model
    processed: int = 0
    errors: int = 0
    rate: RateMeter = field(default_factory=RateMeter)
    last_latency: float | None = None  # frame arrival -> detections, seconds


class Samples:
    """The last few hundred values of a timing, for medians and tail percentiles."""

    def __init__(self, keep: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=keep)

    def add(self, value: float) -> None:
        self._values.append(value)

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(list(self._values), q)) if self._values else None


class DetectionEngine:
    def __init__(self, name: str, detector: Detector, max_batch: int = 8, max_wait: float = 0.01) -> None:
        self.name = name
        self.detector = detector
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self._pending: OrderedDict[str, _Job] = OrderedDict()
        self._cond = threading.Condition()
        self._stop = False
        self.cameras: dict[str, CameraStats] = {}
        self.batch_sizes: Counter[int] = Counter()
        self.queue_wait = Samples()
        self.inference_time = Samples()
        self.runs = 0
        self.last_error: str | None = None
        params = inspect.signature(detector.detect).parameters
        self._takes_conf = "conf" in params  # per-call thresholds (YOLO)
        self._takes_keys = "keys" in params  # per-stream state (motion, fire)
        self._thread = threading.Thread(target=self._run, name=f"engine-{name}", daemon=True)
        self._thread.start()

    def submit(self, camera_id: str, frame: Frame, on_result: ResultCallback, conf: float | None = None) -> None:
        """Queues the camera's newest frame, replacing one of its frames still waiting."""
        with self._cond:
            stats = self.cameras.setdefault(camera_id, CameraStats())
            stats.submitted += 1
            old = self._pending.get(camera_id)
            if old is not None:
                stats.dropped += 1
            # Assigning to a waiting camera keeps its place in the queue: moving it to the back
            # would starve a camera whose frames arrive while it waits, i.e. the busiest ones.
            self._pending[camera_id] = _Job(frame, on_result, conf, old.queued_at if old else time.monotonic())
            self._cond.notify()

    def _take_batch(self) -> list[tuple[str, _Job]]:
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return []
            first = next(iter(self._pending.values())).queued_at
            # Wait briefly for more cameras to fill the batch, but never past max_wait from
            # the oldest frame: batching trades latency for throughput only that far.
            while len(self._pending) < self.max_batch and not self._stop:
                remaining = first + self.max_wait - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[tuple[str, _Job]] = []
            while self._pending and len(batch) < self.max_batch:
                batch.append(self._pending.popitem(last=False))
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            started = time.monotonic()
            for _, job in batch:
                self.queue_wait.add(started - job.queued_at)
            try:
                images = [job.frame.image for _, job in batch]
                threshold = min((job.conf for _, job in batch if job.conf is not None), default=None)
                results = self._detect(images, [camera_id for camera_id, _ in batch], threshold)
            except Exception as exc:  # a failing model must not take the hub down
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("engine %s: inference failed: %s", self.name, self.last_error)
                with self._cond:
                    for camera_id, _ in batch:
                        self.cameras[camera_id].errors += 1
                continue
            elapsed = time.monotonic() - started
            self.inference_time.add(elapsed)
            self.batch_sizes[len(batch)] += 1
            self.runs += 1
            now = time.time()
            for (camera_id, job), detections in zip(batch, results, strict=True):
                if job.conf is not None:
                    # The batch ran at the lowest threshold asked for; each camera keeps its own.
                    detections = [d for d in detections if d.score > job.conf]  # as Ultralytics: strictly above
                stats = self.cameras[camera_id]
                stats.processed += 1
                stats.rate.tick()
                stats.last_latency = now - job.frame.ts
                try:
                    job.on_result(job.frame, detections)
                except Exception:
                    log.exception("engine %s: result handler of camera %s failed", self.name, camera_id)

    def _detect(self, images: list[np.ndarray], keys: list[str], conf: float | None) -> list[list[Detection]]:
        kwargs: dict[str, object] = {}
        if conf is not None and self._takes_conf:
            kwargs["conf"] = conf
        if self._takes_keys:
            kwargs["keys"] = keys
        results = self.detector.detect(images, **kwargs)
        if len(results) != len(images):
            raise RuntimeError(f"detector returned {len(results)} results for {len(images)} images")
        return results

    def forget(self, camera_id: str) -> None:
        """Drops a camera that stopped using this model, and the detector's state of it."""
        with self._cond:
            self._pending.pop(camera_id, None)
            self.cameras.pop(camera_id, None)
        reset = getattr(self.detector, "reset", None)  # stateful detectors (motion, fire)
        if callable(reset):
            reset(camera_id)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join(5)
