"""ChangeNotifier: wakes threads and coroutines at once, and for good once closed."""

from __future__ import annotations

import asyncio
import threading
import time

from videohub.events.notify import ChangeNotifier


def test_thread_waiter_wakes_on_notify_and_times_out_otherwise():
    n = ChangeNotifier()
    t0 = time.monotonic()
    assert n.wait(0, timeout=0.05) is False and time.monotonic() - t0 >= 0.05
    threading.Timer(0.05, n.notify, args=(3,)).start()
    assert n.wait(0, timeout=5) is True and n.latest == 3
    n.notify(2)  # an older seq from a slower writer never moves the head back
    assert n.latest == 3 and n.wait(2, timeout=0) is True and n.wait(3, timeout=0) is False


def test_coroutine_waiter_is_woken_from_another_thread():
    n = ChangeNotifier()

    async def main() -> tuple[bool, float, bool]:
        t0 = time.monotonic()
        threading.Timer(0.05, n.notify, args=(1,)).start()
        woke = await n.wait_async(0, timeout=5)
        elapsed = time.monotonic() - t0
        timed_out = await n.wait_async(1, timeout=0.05)
        return woke, elapsed, timed_out

    woke, elapsed, timed_out = asyncio.run(main())
    assert woke and elapsed < 2 and timed_out is False
    assert n._waiters == set()  # nothing left registered


def test_close_releases_every_waiter():
    n = ChangeNotifier()

    async def main() -> bool:
        threading.Timer(0.05, n.close).start()
        return await n.wait_async(0, timeout=5)

    t0 = time.monotonic()
    assert asyncio.run(main()) is False and time.monotonic() - t0 < 2
    assert n.closed and n.wait(0, timeout=5) is False
