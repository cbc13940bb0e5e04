"""What every simulated feed shares: subscribers, an on-demand producer thread, pause/resume.

A feed's producer thread runs only while somebody is subscribed, like a real camera that
the hub pulls on demand. New subscribers get the current group of pictures replayed
first (from the producer's thread, as the contract requires), so a client can start
decoding at once instead of waiting up to a whole GOP for the next key frame.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from videohub.rtsp.feed import AccessUnit, CodecConfig, Sink

logger = logging.getLogger("videohub.simulate")

_GOP_CACHE_FRAMES = 300
_GOP_CACHE_BYTES = 16 * 1024 * 1024


class FeedSubscription:
    """A subscriber of a `SimulatedFeed` (implements the `Subscription` protocol)."""

    def __init__(self, feed: SimulatedFeed, sink: Sink) -> None:
        self._feed = feed
        self._sink = sink
        self.closed = False
        self.fresh = True  # has not been handed anything yet: gets the cached GOP first
        self.sink_errors = 0

    def wait_config(self, timeout: float) -> CodecConfig | None:
        """Block until the feed's SPS/PPS are known (None on timeout or once closed)."""
        return self._feed._wait_config(self, timeout)

    def close(self) -> None:
        """Stop delivery; the last subscriber to leave stops the producer thread."""
        self._feed._unsubscribe(self)

    def deliver(self, au: AccessUnit) -> None:
        if self.closed:
            return
        try:
            self._sink(au)
        except Exception:  # a broken sink must not take the producer down
            self.sink_errors += 1
            if self.sink_errors == 1:  # once, not at frame rate
                logger.exception("feed %s: subscriber sink failed", self._feed.name)


class SimulatedFeed(ABC):
    """Base of the simulated cameras: implement `_produce` and call `_publish`/`_set_config`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._subs: list[FeedSubscription] = []
        self._config: CodecConfig | None = None
        self._paused = False
        self._need_key = False  # after resume(): deliver nothing until a key frame
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._gop: list[AccessUnit] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self.frames_published = 0

    # ---------------------------------------------------------------- MediaFeed

    def subscribe(self, sink: Sink) -> FeedSubscription:
        """Start delivering access units to `sink` (starts the producer if it is idle)."""
        sub = FeedSubscription(self, sink)
        with self._cond:
            self._subs.append(sub)
            if self._stop is None:
                self._start_producer()
        return sub

    # ---------------------------------------------------------------- test controls

    def pause(self) -> None:
        """Stall the feed: subscribers get nothing (their connections stay open) until resume()."""
        with self._cond:
            self._paused = True
        logger.info("feed %s paused", self.name)

    def resume(self) -> None:
        """End a pause(); delivery restarts at a key frame."""
        with self._cond:
            if not self._paused:
                return
            self._paused = False
            self._need_key = True
            self._gop = []
            self._gop_bytes = 0
            self._gop_valid = False
        self._on_resume()
        logger.info("feed %s resumed", self.name)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def subscriber_count(self) -> int:
        with self._cond:
            return len(self._subs)

    @property
    def running(self) -> bool:
        """Whether a producer thread is currently working for subscribers."""
        with self._cond:
            return self._stop is not None and self._thread is not None and self._thread.is_alive()

    @property
    def config(self) -> CodecConfig | None:
        return self._config

    def close(self, timeout: float = 5.0) -> None:
        """Drop every subscriber and wait for the producer thread to end."""
        with self._cond:
            for sub in self._subs:
                sub.closed = True
            self._subs.clear()
            thread = self._thread
            self._stop_producer()
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ---------------------------------------------------------------- for subclasses

    @abstractmethod
    def _produce(self, stop: threading.Event) -> None:
        """Produce access units until `stop` is set (runs in the producer thread)."""

    def _on_resume(self) -> None:  # noqa: B027 (an optional hook, empty by default)
        """Hook: called after resume(); an encoder can force a key frame here."""

    def _set_config(self, config: CodecConfig) -> None:
        with self._cond:
            self._config = config
            self._cond.notify_all()

    def _publish(self, au: AccessUnit) -> None:
        """Hand one access unit to every subscriber (call from the producer thread only)."""
        with self._cond:
            if self._paused or threading.current_thread() is not self._thread:
                return  # paused, or a producer that was told to stop and has not noticed yet
            if self._need_key:
                if not au.keyframe:
                    return
                self._need_key = False
            if au.keyframe:
                self._gop = [au]
                self._gop_bytes = len(au.data)
                self._gop_valid = True
            elif self._gop_valid:
                self._gop.append(au)
                self._gop_bytes += len(au.data)
                if len(self._gop) > _GOP_CACHE_FRAMES or self._gop_bytes > _GOP_CACHE_BYTES:
                    self._gop, self._gop_bytes, self._gop_valid = [], 0, False
            deliveries: list[tuple[FeedSubscription, list[AccessUnit]]] = []
            for sub in self._subs:
                if sub.fresh:
                    sub.fresh = False
                    if self._gop_valid:
                        deliveries.append((sub, list(self._gop)))  # the GOP ends with `au`
                        continue
                deliveries.append((sub, [au]))
            self.frames_published += 1
        for sub, aus in deliveries:  # outside the lock: sinks may take a moment
            for item in aus:
                sub.deliver(item)

    # ---------------------------------------------------------------- internals

    def _start_producer(self) -> None:
        stop = threading.Event()
        self._stop = stop
        thread = threading.Thread(target=self._thread_main, args=(stop,), name=f"feed-{self.name}", daemon=True)
        self._thread = thread
        self._gop, self._gop_bytes, self._gop_valid = [], 0, False
        thread.start()
        logger.debug("feed %s: producer started", self.name)

    def _stop_producer(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
            logger.debug("feed %s: producer stopping (no subscribers)", self.name)

    def _thread_main(self, stop: threading.Event) -> None:
        try:
            self._produce(stop)
        except Exception:
            logger.exception("feed %s: producer failed", self.name)
        finally:
            with self._cond:
                if self._thread is threading.current_thread():
                    # Ended by itself (end of a non-looping file, or an error): let the
                    # next subscribe() start a fresh producer.
                    self._stop = None
                    self._thread = None
                self._cond.notify_all()

    def _unsubscribe(self, sub: FeedSubscription) -> None:
        with self._cond:
            sub.closed = True
            if sub in self._subs:
                self._subs.remove(sub)
                if not self._subs:
                    self._stop_producer()
            self._cond.notify_all()

    def _wait_config(self, sub: FeedSubscription, timeout: float) -> CodecConfig | None:
        with self._cond:
            self._cond.wait_for(lambda: self._config is not None or sub.closed, timeout)
            return None if sub.closed else self._config
