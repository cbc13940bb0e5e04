"""`NatsPublisher`: publishes every change of the event outbox to NATS JetStream.

Subjects are `<prefix>.<region_code>.<category_code>`, so a consumer subscribes to what it
handles with wildcards (`events.150102.>`, `events.*.0401`). Each message carries
`Nats-Msg-Id: <event_id>:<seq>`: a change published again after a crash or a reconnect is
dropped by JetStream's de-duplication instead of reaching consumers twice.

The publisher follows the outbox with a cursor kept in the database (`outbox_cursors`), so
nothing is lost while NATS is down or the hub is stopped: it reconnects with backoff and
resumes from the cursor. nats-py is asyncio; the publisher runs its own loop in its own
thread and reads the database in worker threads so that loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import threading
from typing import Any

from videohub.config import NatsConfig
from videohub.events.cursors import OutboxCursors
from videohub.events.notify import ChangeNotifier
from videohub.events.schema import EventChange, Evidence
from videohub.events.service import EventService
from videohub.secrets import mask_text, mask_url, url_secrets

log = logging.getLogger("videohub.nats")

BATCH = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def subject_token(value: str | None) -> str:
    """One subject token: '.', '*', '>' and white space would split or wildcard the subject,
    so every character outside [A-Za-z0-9_-] becomes '_'; a missing value is '_'."""
    return _UNSAFE.sub("_", value) if value else "_"


def subject_for(prefix: str, change: EventChange) -> str:
    return f"{prefix}.{subject_token(change.event.region_code)}.{subject_token(change.event.category_code)}"


def message_id(change: EventChange) -> str:
    return f"{change.event.id}:{change.seq}"


class NatsPublisher:
    def __init__(
        self, events: EventService, cursors: OutboxCursors, notifier: ChangeNotifier, config: NatsConfig
    ) -> None:
        if not config.url:
            raise ValueError("NatsPublisher needs nats.url")
        self.events = events
        self.cursors = cursors
        self.notifier = notifier
        self.config = config
        self.url: str = config.url
        self.cursor_name = f"nats:{config.stream}"
        self.cursor = 0
        self.connected = False
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._thread: threading.Thread | None = None
        self._secrets = [s for one in self.url.split(",") for s in url_secrets(one.strip())]

    def _masked(self, text: str) -> str:
        return mask_text(text, self._secrets)

    def start(self) -> None:
        # The cursor is made now, before any connection: changes made while NATS is still
        # unreachable are after it and will be published once it is back. A new publisher
        # starts at the present; the outbox's history is GET /api/v1/events' job.
        self.cursor = self.cursors.init(self.cursor_name, self.events.last_seq())
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="nats-publisher", daemon=True)
        self._thread.start()
        ready.wait(5)
        log.info(
            "NATS publisher to %s, stream %s, from outbox seq %d",
            mask_url(self.url),
            self.config.stream,
            self.cursor,
        )

    def stop(self) -> None:
        """Cancels the publisher wherever it waits (connecting, publishing, idle). A change
        cut off between JetStream's ack and the stored cursor goes out again at the next
        start, and JetStream drops the repeat by its Nats-Msg-Id."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve()

        asyncio.run(main())

    async def _serve(self) -> None:
        import nats

        delay = self.config.reconnect_initial
        failing = False
        while not self._stopping.is_set():
            nc: Any = None
            try:
                # nats-py's own reconnects are off: a broken connection ends here and the
                # loop below reconnects with backoff, then resumes from the stored cursor.
                nc = await nats.connect(
                    self.url,
                    name="videohub",
                    connect_timeout=self.config.connect_timeout,
                    allow_reconnect=False,
                    # Two quick tries per server, then our backoff (nats-py's own initial
                    # connect would otherwise retry for two minutes).
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    error_cb=self._on_error,
                )
                js = nc.jetstream(timeout=self.config.publish_timeout)
                await self._ensure_stream(js)
                self.connected, failing = True, False
                delay = self.config.reconnect_initial
                log.info("NATS publisher connected to %s", mask_url(self.url))
                await self._publish_loop(js)
            except Exception as exc:  # any failure: back off and resume from the cursor
                if not self._stopping.is_set():
                    # Loud once per outage, quiet while it lasts: the log is not flooded.
                    level = logging.DEBUG if failing else logging.WARNING
                    failing = True
                    log.log(
                        level,
                        "NATS publisher: %s; retrying in %.1fs from outbox seq %d",
                        self._masked(f"{type(exc).__name__}: {exc}"),
                        delay,
                        self.cursor,
                    )
            finally:
                self.connected = False
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()
            if self._stopping.is_set():
                return
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
            delay = min(self.config.reconnect_max, delay * 2)

    async def _on_error(self, exc: Exception) -> None:
        # nats-py's default callback logs the exception as it is; its text can quote the URL.
        log.debug("NATS client: %s", self._masked(f"{type(exc).__name__}: {exc}"))

    async def _ensure_stream(self, js: Any) -> None:
        from nats.js.errors import NotFoundError

        wanted = f"{self.config.subject_prefix}.>"
        try:
            info = await js.stream_info(self.config.stream)
        except NotFoundError:
            await js.add_stream(name=self.config.stream, subjects=[wanted])
            log.info("created JetStream stream %s (subjects %s)", self.config.stream, wanted)
            return
        subjects = list(info.config.subjects or [])
        if wanted not in subjects:
            # An operator's own stream: add our subjects rather than fail or replace theirs.
            info.config.subjects = [*subjects, wanted]
            await js.update_stream(info.config)
            log.info("added subjects %s to JetStream stream %s", wanted, self.config.stream)

    async def _publish_loop(self, js: Any) -> None:
        prefix = self.config.subject_prefix
        while not self._stopping.is_set():
            changes = await asyncio.to_thread(self.events.changes_after, self.cursor, None, BATCH)
            start = self.cursor
            try:
                for change in changes:
                    # One at a time, each acknowledged: the stream keeps the outbox order,
                    # and the cursor never passes a change JetStream has not stored.
                    await self._publish(js, prefix, change)
                    self.cursor = change.seq
            finally:
                if self.cursor != start:
                    await asyncio.to_thread(self.cursors.advance, self.cursor_name, self.cursor)
            if len(changes) == BATCH:
                continue
            await self.notifier.wait_async(self.cursor, self.config.poll_interval)
            if self.notifier.closed:
                await asyncio.sleep(self.config.poll_interval)  # the hub is stopping

    async def _publish(self, js: Any, prefix: str, change: EventChange) -> None:
        from nats.errors import MaxPayloadError

        headers = {
            "Nats-Msg-Id": message_id(change),
            "Videohub-Event": change.kind,
            "Videohub-Seq": str(change.seq),
        }
        subject = subject_for(prefix, change)
        try:
            await js.publish(subject, change.model_dump_json().encode(), headers=headers)
            return
        except MaxPayloadError:
            # The client refuses it before sending, every time: retrying would hold every
            # later change back for good. The evidence (detections, free-form `extra`) is
            # what makes an event big; the message goes out without it, marked, and a
            # consumer reads it whole from GET /api/v1/events/{id}.
            pass
        slim = change.model_copy(update={"event": change.event.model_copy(update={"evidence": Evidence()})})
        log.warning(
            "NATS: change seq %d of event %s is above the server's max_payload; published without its evidence",
            change.seq,
            change.event.id,
        )
        headers["Videohub-Truncated"] = "evidence"
        await js.publish(subject, slim.model_dump_json().encode(), headers=headers)
