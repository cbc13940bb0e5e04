"""`ChangeNotifier`: wakes the readers of the change outbox as soon as a change commits.

It carries no data: readers (SSE streams, webhook and NATS workers) always read the outbox
table, so a missed wake-up only delays them until their next poll, and a restart loses
nothing. Changes committed by another process are not announced here; readers still poll
the table now and then for those.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class ChangeNotifier:
    """Thread-safe; waiters may be threads (`wait`) or coroutines (`wait_async`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest = 0
        self._closed = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def latest(self) -> int:
        """The highest seq announced so far in this process (0: none)."""
        return self._latest

    @property
    def closed(self) -> bool:
        """True once the hub is stopping: long-running readers should end."""
        return self._closed

    def notify(self, seq: int) -> None:
        """Announces that the outbox holds changes up to `seq` (called after the commit)."""
        with self._cond:
            self._latest = max(self._latest, seq)
            self._cond.notify_all()
            waiters = list(self._waiters)
        self._wake(waiters)

    def close(self) -> None:
        """Wakes every waiter for good; `wait` and `wait_async` return at once from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            waiters = list(self._waiters)
        self._wake(waiters)

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
        for loop, event in waiters:
            # A closed loop raises RuntimeError: its waiter is gone with it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def wait(self, after: int, timeout: float) -> bool:
        """Blocks until a seq above `after` is announced, the notifier closes, or `timeout`
        seconds pass; True if there is something new."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest > after or self._closed, timeout)
            return self._latest > after

    async def wait_async(self, after: int, timeout: float) -> bool:
        """`wait` for coroutines: never blocks the event loop."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._cond:
            if self._latest > after or self._closed:
                return self._latest > after
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._waiters.discard(entry)
        return self._latest > after
