"""`WebhookWorker`: delivers the webhook queue over HTTP, in order per subscription.

Three threads and a small pool:
- the dispatcher turns new outbox changes into queued deliveries when the `ChangeNotifier`
  announces a change (a small bridge thread waits on it), when a subscription changes, and
  now and then without a wake-up (changes made by other processes);
- the scheduler finds subscriptions whose oldest pending delivery is due and hands each to
  the pool, one task per subscription at a time, so a subscription's changes go out in seq
  order while a slow or failing receiver holds up nobody else.

Every state change is written to the database before the next step, so a restart resumes
where the last run stopped. Delivery is at least once (a hub killed mid-attempt sends that
delivery again); `X-Videohub-Delivery` lets receivers drop the repeat.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from videohub import __version__
from videohub.config import WebhooksConfig
from videohub.events.notify import ChangeNotifier
from videohub.events.schema import EventChange
from videohub.events.subscription_schema import WebhookPayload
from videohub.events.webhooks import Claimed, SubscriptionService, sign
from videohub.secrets import MaskingFilter, mask_text, mask_url, url_secrets

log = logging.getLogger("videohub.webhooks")
# httpx logs every request's URL at INFO, whatever handlers the application installs: a
# receiver's `?token=` must not reach a log through it.
logging.getLogger("httpx").addFilter(MaskingFilter())

LEASE_MARGIN_S = 30.0
"""A claimed attempt is someone else's to retry this long after its timeout would have fired."""
PRUNE_EVERY_S = 3600.0


def backoff_delay(attempts: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Delay after the `attempts`-th failure: initial * 2^(attempts-1), capped, then
    "equal jitter" (half fixed, half random) so receivers that come back are not hit by
    every hub's retries in the same instant."""
    capped = min(maximum, initial * 2 ** max(0, attempts - 1))
    return capped / 2 + (rng or random).uniform(0, capped / 2)


def split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """The URL without `user:password@`, and those as basic auth. httpx logs every request's
    URL at INFO: credentials left in it would reach the log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    auth = httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=netloc)), auth


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # the HTTP-date form: the backoff will do


class WebhookWorker:
    def __init__(self, service: SubscriptionService, notifier: ChangeNotifier, config: WebhooksConfig) -> None:
        self.service = service
        self.notifier = notifier
        self.config = config
        self._stop = threading.Event()
        self._wake = threading.Event()  # the scheduler's
        self._dispatch_wake = threading.Event()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        service.on_change(self.wake)

    # --- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        # Redirects are not followed: the signed body would go somewhere nobody subscribed.
        self._http = httpx.Client(
            timeout=self.config.timeout,
            follow_redirects=False,
            headers={"User-Agent": f"videohub/{__version__}"},
        )
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook")
        loops = (
            ("webhook-notify", self._notify_loop),
            ("webhook-dispatch", self._dispatch_loop),
            ("webhook-schedule", self._schedule_loop),
        )
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stops taking new work and waits for attempts in flight (bounded by the timeout),
        so their outcome is recorded and nothing is sent twice."""
        self._stop.set()
        self._wake.set()
        self._dispatch_wake.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._http is not None:
            self._http.close()
            self._http = None

    # --- queueing ---------------------------------------------------------------------
    def wake(self) -> None:
        """Looks for work now instead of at the next poll."""
        self._dispatch_wake.set()
        self._wake.set()

    def _notify_loop(self) -> None:
        seen = self.notifier.latest
        while not self._stop.is_set():
            if self.notifier.wait(seen, self.config.poll_interval):
                seen = self.notifier.latest
                self._dispatch_wake.set()
            elif self.notifier.closed:
                return  # the hub is stopping

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            # Cleared before reading: a change announced during the read wakes the next round.
            self._dispatch_wake.clear()
            try:
                if self.service.dispatch():
                    self._wake.set()
            except Exception:
                # A database hiccup: the cursor did not move, the next round retries.
                log.exception("webhook dispatch failed; retrying in %.0fs", self.config.poll_interval)
            # The timeout catches the changes of other processes sharing the database.
            self._dispatch_wake.wait(self.config.poll_interval)

    # --- sending ----------------------------------------------------------------------
    def _schedule_loop(self) -> None:
        next_prune = 0.0
        while not self._stop.is_set():
            timeout = self.config.poll_interval
            try:
                if time.monotonic() >= next_prune:
                    cutoff = datetime.now(UTC) - timedelta(hours=self.config.keep_delivered_hours)
                    if pruned := self.service.prune(cutoff):
                        log.info("pruned %d delivered webhook deliveries", pruned)
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                now = datetime.now(UTC)
                for head in self.service.heads():
                    with self._lock:
                        if head.subscription_id in self._in_flight:
                            continue
                    wait = (head.next_attempt_at - now).total_seconds()
                    if wait > 0:
                        timeout = min(timeout, wait)
                        continue
                    self._submit(head.subscription_id)
            except Exception:
                log.exception("webhook scheduling failed; retrying in %.0fs", timeout)
            self._wake.wait(max(0.01, timeout))
            self._wake.clear()

    def _submit(self, sub_id: str) -> None:
        pool = self._pool
        if pool is None:
            return
        with self._lock:
            self._in_flight.add(sub_id)
        try:
            future = pool.submit(self._deliver_subscription, sub_id)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._in_flight.discard(sub_id)
            return
        future.add_done_callback(functools.partial(self._done, sub_id))

    def _done(self, sub_id: str, future: Future[None]) -> None:
        with self._lock:
            self._in_flight.discard(sub_id)
        if not future.cancelled() and future.exception() is not None:
            log.error("webhook delivery task for %s failed", sub_id, exc_info=future.exception())
        self._wake.set()  # its next delivery, or its retry time, needs scheduling

    def _deliver_subscription(self, sub_id: str) -> None:
        """Sends the subscription's due deliveries in seq order until one fails or none is due."""
        lease = self.config.timeout + LEASE_MARGIN_S
        while not self._stop.is_set():
            claimed = self.service.claim(sub_id, lease)
            if claimed is None or not self._attempt(claimed):
                return

    def _attempt(self, claimed: Claimed) -> bool:
        http = self._http
        if http is None:
            return False
        change = EventChange.model_validate_json(claimed.payload)
        sent_at = datetime.now(UTC)
        body = (
            WebhookPayload(
                delivery_id=claimed.id,
                subscription_id=claimed.subscription_id,
                attempt=claimed.attempt,
                sent_at=sent_at,
                seq=change.seq,
                kind=change.kind,
                at=change.at,
                event=change.event,
            )
            .model_dump_json()
            .encode()
        )
        headers = {
            "Content-Type": "application/json",
            "X-Videohub-Signature": sign(claimed.secret, body),
            "X-Videohub-Delivery": claimed.id,
            "X-Videohub-Event": claimed.kind,
            "X-Videohub-Seq": str(claimed.seq),
            "X-Videohub-Timestamp": str(int(sent_at.timestamp())),  # = sent_at, which is signed
        }
        secrets = [claimed.secret, *url_secrets(claimed.url)]
        status: int | None = None
        retry_after: float | None = None
        try:
            url, auth = split_credentials(claimed.url)
            # Streamed, and closed unread: the status line is the answer. Reading the body
            # let a receiver that trickles one (each byte within the read timeout) hold the
            # attempt open for ever, and read a huge one into memory.
            with http.stream(
                "POST", url, content=body, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT
            ) as response:
                status = response.status_code
                reason = response.reason_phrase
                if status in (429, 503):
                    retry_after = _retry_after(response)
            if 200 <= status < 300:
                self.service.record(claimed, True, status, None, None)
                log.debug("webhook %s delivered seq %d (%s)", claimed.id, claimed.seq, status)
                return True
            error = f"HTTP {status} {reason}".strip()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = mask_text(error, secrets)
        # Every failure is retried: a 4xx is as often a receiver mid-deploy or a rotated
        # secret as a real refusal, and giving up early would lose the change.
        if claimed.attempt >= self.config.max_attempts:
            self.service.record(claimed, False, status, error, None)
            log.error(
                "webhook %s to %s gave up on seq %d after %d attempts: %s",
                claimed.id,
                mask_url(claimed.url),
                claimed.seq,
                claimed.attempt,
                error,
            )
            # The next change goes on: one undeliverable change must not stop the rest.
            return True
        delay = backoff_delay(claimed.attempt, self.config.backoff_initial, self.config.backoff_max)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max))
        self.service.record(claimed, False, status, error, datetime.now(UTC) + timedelta(seconds=delay))
        log.warning(
            "webhook %s to %s failed (attempt %d of %d, retry in %.1fs): %s",
            claimed.id,
            mask_url(claimed.url),
            claimed.attempt,
            self.config.max_attempts,
            delay,
            error,
        )
        return False
