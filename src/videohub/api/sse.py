"""Server-Sent Events from the change outbox: replay after a `Last-Event-ID`, then live.

The stream reads the outbox table, never an in-memory queue: a client that reconnects with
the last id it saw gets everything since, whichever replica it reaches. The notifier only
wakes the stream early; a periodic poll still catches changes made by other processes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from videohub.events.schema import EventChange, EventFilter
from videohub.events.service import EventService

KEEPALIVE_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
POLL_S = 2.0
"""How often the outbox is read without a wake-up (changes made by other processes)."""
BATCH = 100


def format_change(change: EventChange) -> str:
    return f"id: {change.seq}\nevent: {change.kind}\ndata: {change.model_dump_json()}\n\n"


async def change_stream(request: Request, service: EventService, flt: EventFilter, after: int) -> AsyncIterator[str]:
    """Yields SSE messages for changes after `after`; ends when the client goes away or
    the hub stops. Database reads run in the thread pool, so the event loop never waits."""
    notifier = service.notifier
    seq = after
    yield "retry: 3000\n\n"
    last_sent = time.monotonic()
    while not notifier.closed:
        # Read the head first: every change up to it has committed, so once the filtered
        # read below comes back short, the stream may skip to it (no rescans of changes
        # the filter does not want).
        head = max(notifier.latest, await run_in_threadpool(service.last_seq))
        changes = await run_in_threadpool(service.changes_after, seq, flt, BATCH)
        for change in changes:
            yield format_change(change)
            seq = change.seq
            last_sent = time.monotonic()
        if len(changes) == BATCH:
            continue
        seq = max(seq, head)
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await notifier.wait_async(seq, min(POLL_S, KEEPALIVE_S))
