"""Webhook subscriptions end to end: a real hub (uvicorn, SQLite file) delivering to a real
HTTP receiver started by the test."""

from __future__ import annotations

import logging
import random
import threading

import pytest
from sqlalchemy import delete, event, select

from tests.api.test_events import body
from tests.conftest import free_port, wait_for
from tests.events.conftest import event_in
from tests.events.receiver import Receiver
from videohub.db import init_db
from videohub.events.delivery import backoff_delay
from videohub.events.service import EventService
from videohub.events.subscription_models import DeliveryRow, SubscriptionRow
from videohub.events.subscription_schema import SubscriptionIn
from videohub.events.webhooks import SubscriptionService
from videohub.taxonomy import load_taxonomy

SECRET = "s3cret-for-the-tests-0123456789"
# Short delays keep the suite fast.
FAST = {"timeout": 2, "max_attempts": 5, "backoff_initial": 0.5, "backoff_max": 1, "poll_interval": 0.5}


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kw) -> Receiver:
        r = Receiver(kw.pop("secret", SECRET), **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def sessions(engine):
    """Sessions on a SQLite file or the PostgreSQL test database (the events conftest's
    `engine`), with the subscription tables emptied afterwards."""
    made = init_db(engine)
    yield made
    with made.begin() as s:
        s.execute(delete(DeliveryRow))
        s.execute(delete(SubscriptionRow))


def subscribe(http, url: str, **fields) -> dict:
    r = http.post("/api/v1/subscriptions", json={"url": url, "secret": SECRET, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def test_delivery_fails_twice_survives_a_restart_then_arrives_once(live_hub, receiver):
    hook = receiver(fail_first=2)
    # The first hub waits 1-2 s before a retry: time enough to stop it in between, even on
    # a loaded machine. The second keeps the retry time the first stored, then goes fast.
    hub = live_hub([], webhooks={**FAST, "backoff_initial": 2, "backoff_max": 2})
    sub = subscribe(hub.http, hook.url, filters={"category": ["0402"]}, description="smoke desk")
    wanted = hub.http.post("/api/v1/events", json=body(title="smoke")).json()
    other = hub.http.post("/api/v1/events", json=body(title="fire", category_code="0401")).json()
    wait_for(lambda: hook.requests, 10, what="first attempt")
    hub.stop()  # while the receiver is still failing
    assert [r.answered for r in hook.snapshot()] == [500]

    hub = live_hub([], webhooks=FAST)  # same SQLite file
    wait_for(lambda: hook.accepted, 10, what="delivery after the restart")
    later = hub.http.post("/api/v1/events", json=body(title="smoke again")).json()
    wait_for(lambda: len(hook.accepted) == 2, 10, what="the next delivery")

    got = hook.snapshot()
    assert all(r.signature_ok for r in got)
    first = [r for r in got if r.body["event"]["id"] == wanted["id"]]
    assert [r.answered for r in first] == [500, 500, 200]
    assert [r.body["attempt"] for r in first] == [1, 2, 3]
    assert len({r.headers["X-Videohub-Delivery"] for r in first}) == 1  # one id across retries and restart
    assert first[0].headers["X-Videohub-Delivery"] == first[0].body["delivery_id"]
    assert {r.headers["X-Videohub-Event"] for r in first} == {"created"}
    assert all(r.headers["X-Videohub-Timestamp"].isdigit() for r in got)
    # exactly one accepted delivery per change, in outbox order; the fire never went out
    accepted = [(r.body["seq"], r.body["event"]["id"]) for r in hook.accepted]
    assert accepted == [(1, wanted["id"]), (3, later["id"])]
    assert other["id"] not in {r.body["event"]["id"] for r in got}
    payload = first[-1].body
    assert payload["subscription_id"] == sub["id"] and payload["kind"] == "created"
    assert payload["event"]["title"] == "smoke" and payload["event"]["category_code"] == "0402"

    deliveries = hub.http.get(f"/api/v1/subscriptions/{sub['id']}/deliveries").json()
    assert [(d["seq"], d["status"], d["attempts"]) for d in deliveries] == [(3, "delivered", 1), (1, "delivered", 3)]
    assert deliveries[1]["last_status_code"] == 200 and deliveries[1]["last_error"] is None
    assert hub.http.get(f"/api/v1/subscriptions/{sub['id']}").json()["pending"] == 0


def test_order_kept_and_a_dead_receiver_blocks_nobody(live_hub, receiver):
    hook = receiver()
    hub = live_hub([], webhooks={**FAST, "max_attempts": 2, "backoff_initial": 0.05, "backoff_max": 0.1})
    good = subscribe(hub.http, hook.url)
    dead = subscribe(hub.http, f"http://127.0.0.1:{free_port()}/nobody-listens")
    ids = [hub.http.post("/api/v1/events", json=body(title=f"e{i}")).json()["id"] for i in range(3)]
    hub.http.post(f"/api/v1/events/{ids[0]}/transitions", json={"to_status": 20, "actor": "clerk"})
    wait_for(lambda: len(hook.accepted) == 4, 10, what="four deliveries")
    assert [(r.body["seq"], r.body["kind"]) for r in hook.accepted] == [
        (1, "created"),
        (2, "created"),
        (3, "created"),
        (4, "transition"),
    ]
    assert hook.accepted[3].body["event"]["status"] == 20

    def dead_gave_up():
        return hub.http.get(f"/api/v1/subscriptions/{dead['id']}").json()["failed"] == 4

    wait_for(dead_gave_up, 10, what="the dead subscription to give up")
    metrics = hub.http.get("/metrics").text
    assert f'videohub_webhook_deliveries{{status="failed",subscription="{dead["id"]}"}} 4.0' in metrics
    failed = hub.http.get(f"/api/v1/subscriptions/{dead['id']}/deliveries", params={"status": "failed"}).json()
    assert [(d["seq"], d["attempts"], d["next_attempt_at"]) for d in failed] == [(s, 2, None) for s in (4, 3, 2, 1)]
    assert all(d["last_status_code"] is None and "ConnectError" in d["last_error"] for d in failed)

    # Paused: nothing goes out; resumed: what happened meanwhile follows, in order.
    r = hub.http.patch(f"/api/v1/subscriptions/{good['id']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    paused = hub.http.post("/api/v1/events", json=body(title="while paused")).json()
    wait_for(lambda: hub.http.get(f"/api/v1/subscriptions/{dead['id']}").json()["failed"] == 5, 10)
    assert len(hook.accepted) == 4
    hub.http.patch(f"/api/v1/subscriptions/{good['id']}", json={"active": True})
    wait_for(lambda: len(hook.accepted) == 5, 10, what="delivery after resume")
    assert hook.accepted[4].body["event"]["id"] == paused["id"]

    # The operator fixes the dead receiver's URL and has a failed delivery sent again.
    hub.http.patch(f"/api/v1/subscriptions/{dead['id']}", json={"url": hook.url})
    oldest = failed[-1]
    r = hub.http.post(f"/api/v1/subscriptions/{dead['id']}/deliveries/{oldest['id']}/retry")
    assert r.status_code == 200 and (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
    wait_for(lambda: len(hook.accepted) == 6, 10, what="the retried delivery")
    again = hook.accepted[5]
    assert (again.headers["X-Videohub-Delivery"], again.body["seq"], again.body["attempt"]) == (oldest["id"], 1, 1)
    retry_path = f"/api/v1/subscriptions/{dead['id']}/deliveries/{oldest['id']}/retry"
    assert hub.http.post(retry_path).status_code == 409  # not failed (any more): nothing to retry
    assert hub.http.post(f"/api/v1/subscriptions/{dead['id']}/deliveries/nope/retry").status_code == 404
    assert hub.http.post(f"/api/v1/subscriptions/nope/deliveries/{oldest['id']}/retry").status_code == 404


@pytest.mark.parametrize(("status", "retry_after"), [(400, None), (410, None), (429, "1"), (503, "1")])
def test_any_failure_is_retried_and_retry_after_is_honoured(live_hub, receiver, status, retry_after):
    """4xx answers are retried like 5xx (a receiver mid-deploy or with an old secret answers
    400/401/404 too); 429 and 503 may ask for a longer wait with Retry-After."""
    hook = receiver(fail_first=1, fail_status=status, retry_after=retry_after)
    hub = live_hub([], webhooks={**FAST, "backoff_initial": 0.05, "backoff_max": 2})
    subscribe(hub.http, hook.url)
    hub.http.post("/api/v1/events", json=body())
    wait_for(lambda: hook.accepted, 10, what="the retry to be accepted")
    first, second = hook.snapshot()
    assert (first.answered, second.answered) == (status, 200)
    gap = second.at - first.at
    assert gap >= 1.0 if retry_after else gap < 1.0


def test_secrets_never_in_responses_or_logs(live_hub, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    hook = receiver(fail_first=1)
    hub = live_hub([], webhooks=FAST)
    password = "hook-pass-9876"
    url = hook.url.replace("http://", f"http://hookuser:{password}@")
    created = hub.http.post("/api/v1/subscriptions", json={"url": url, "secret": SECRET})
    assert created.status_code == 201
    sub = created.json()
    assert sub["url"] == hook.url.replace("http://", "http://***@") and "secret" not in sub
    hub.http.post("/api/v1/events", json=body())
    wait_for(lambda: hook.accepted, 10, what="delivery")
    assert hook.accepted[0].headers["Authorization"].startswith("Basic ")

    new_secret = "rotated-secret-abcdefghijkl"
    patched = hub.http.patch(f"/api/v1/subscriptions/{sub['id']}", json={"secret": new_secret})
    assert patched.status_code == 200
    hook.secret = new_secret
    hub.http.post("/api/v1/events", json=body())
    wait_for(lambda: len(hook.accepted) == 2, 10, what="delivery signed with the new secret")
    texts = [
        created.text,
        patched.text,
        hub.http.get("/api/v1/subscriptions").text,
        hub.http.get(f"/api/v1/subscriptions/{sub['id']}").text,
        hub.http.get(f"/api/v1/subscriptions/{sub['id']}/deliveries").text,
        hub.http.get("/openapi.json").text,
    ]
    assert "HTTP 500" in caplog.text and "***@127.0.0.1" in caplog.text  # the failed attempt is logged
    for secret in (SECRET, new_secret, password):
        assert secret not in caplog.text
        assert all(secret not in t for t in texts)

    # A token in the receiver's query string is a credential too.
    token = "tok-secret-5555"
    by_token = hub.http.post(
        "/api/v1/subscriptions", json={"url": f"{hook.url}?token={token}&v=2", "secret": new_secret}
    )
    assert by_token.status_code == 201 and by_token.json()["url"] == f"{hook.url}?token=***&v=2"
    hub.http.post("/api/v1/events", json=body())
    wait_for(lambda: any("token=" in r.path for r in hook.accepted), 10, what="delivery to the token URL")
    assert token not in caplog.text and token not in hub.http.get("/api/v1/subscriptions").text
    resent = hub.http.patch(f"/api/v1/subscriptions/{by_token.json()['id']}", json={"url": by_token.json()["url"]})
    assert resent.status_code == 422 and "***" in resent.json()["detail"]  # the mask is not a token


def test_crud_and_validation_errors(live_hub):
    http = live_hub([]).http
    ok = {"url": "https://agency.example/hook", "secret": SECRET}

    def error(method: str, path: str, payload: dict) -> dict:
        r = http.request(method, path, json=payload)
        assert r.status_code == 422, r.text
        return r.json()

    assert error("POST", "/api/v1/subscriptions", {**ok, "url": "ftp://x/y"})["errors"][0]["loc"] == ["body", "url"]
    assert "http or https" in error("POST", "/api/v1/subscriptions", {**ok, "url": "ftp://x/y"})["detail"]
    assert error("POST", "/api/v1/subscriptions", {"url": ok["url"]})["errors"][0]["loc"] == ["body", "secret"]
    short = error("POST", "/api/v1/subscriptions", {**ok, "secret": "short"})
    assert short["errors"][0]["loc"] == ["body", "secret"] and "short" not in short["detail"]
    assert "unknown field" in error("POST", "/api/v1/subscriptions", {**ok, "secrett": "x"})["detail"]
    assert "unknown field" in error("POST", "/api/v1/subscriptions", {**ok, "filters": {"levle": [1]}})["detail"]
    bad_code = error("POST", "/api/v1/subscriptions", {**ok, "filters": {"level": [9]}})
    assert bad_code["field"] == "filters.level" and "1" in bad_code["allowed"]
    assert error("POST", "/api/v1/subscriptions", {**ok, "filters": {"region": ["999999"]}})["field"] == (
        "filters.region"
    )
    # Stored, such a filter broke every later dispatch round (OverflowError converting to UTC).
    early = error("POST", "/api/v1/subscriptions", {**ok, "filters": {"since": "0001-01-01T00:00:00+05:00"}})
    assert early["errors"][0]["loc"] == ["body", "filters", "since"] and "UTC" in early["detail"]
    assert http.get("/api/v1/subscriptions").json() == []

    sub = http.post("/api/v1/subscriptions", json={**ok, "filters": {"level": [1, 2], "region": ["150102"]}}).json()
    assert sub["filters"]["level"] == [1, 2] and sub["active"] is True and sub["description"] == ""
    path = f"/api/v1/subscriptions/{sub['id']}"
    assert error("PATCH", path, {"url": None})["errors"][0]["loc"] == ["body", "url"]
    assert error("PATCH", path, {"url": "https://***@agency.example/hook"})["errors"][0]["loc"] == ["body", "url"]
    assert error("PATCH", path, {"filters": {"category": ["nope"]}})["field"] == "filters.category"
    r = http.patch(path, json={"description": "fire brigade", "filters": {"category": ["04"]}})
    assert r.status_code == 200
    assert (r.json()["description"], r.json()["filters"]["category"], r.json()["filters"]["level"]) == (
        "fire brigade",
        ["04"],
        [],
    )
    assert [s["id"] for s in http.get("/api/v1/subscriptions").json()] == [sub["id"]]
    assert http.get(f"{path}/deliveries").json() == []
    assert http.get(f"{path}/deliveries", params={"status": "lost"}).status_code == 422
    assert http.delete(path).status_code == 204
    for r in (
        http.get(path),
        http.patch(path, json={"active": False}),
        http.delete(path),
        http.get(f"{path}/deliveries"),
    ):
        assert r.status_code == 404 and sub["id"] in r.json()["detail"]


def test_concurrent_dispatchers_queue_each_change_once(sessions):
    """Four hubs on one database (SQLite file, PostgreSQL) race to queue the same changes:
    the cursor's compare-and-set and the unique (subscription, seq) let each in exactly once."""
    events = EventService(sessions, load_taxonomy())
    subs = [SubscriptionService(sessions, events) for _ in range(4)]
    sub = subs[0].create(SubscriptionIn(url="http://127.0.0.1:9/x", secret=SECRET, filters={"level": [2]}))
    for i in range(150):
        events.create(event_in(title=f"e{i}", level=2 if i % 3 else 3), actor="test")
    barrier = threading.Barrier(len(subs))
    errors: list[BaseException] = []

    def run(service: SubscriptionService) -> None:
        barrier.wait()
        try:
            service.dispatch()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in subs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        seqs = list(s.scalars(select(DeliveryRow.seq).order_by(DeliveryRow.seq)))
    assert seqs == [i + 1 for i in range(150) if i % 3]  # level 2 only, each once
    assert (subs[1].get(sub.id).cursor, subs[1].get(sub.id).pending) == (150, 100)


def test_a_crash_while_queueing_loses_and_repeats_nothing(sessions):
    """The transaction that queues deliveries also moves the cursor: if it fails, neither
    happened, and the next round queues the same changes once."""
    events = EventService(sessions, load_taxonomy())
    subs = SubscriptionService(sessions, events)
    sub = subs.create(SubscriptionIn(url="http://127.0.0.1:9/x", secret=SECRET))
    for i in range(3):
        events.create(event_in(title=f"e{i}"), actor="test")

    def crash(_session: object) -> None:
        raise RuntimeError("power cut")

    event.listen(sessions, "before_commit", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        subs.dispatch()
    event.remove(sessions, "before_commit", crash)
    assert (subs.get(sub.id).cursor, subs.get(sub.id).pending) == (0, 0)
    assert subs.dispatch() == 3 and subs.dispatch() == 0
    assert [d.seq for d in subs.deliveries(sub.id)] == [3, 2, 1]


def test_an_attempt_cut_off_by_a_crash_is_made_again_after_its_lease(sessions):
    events = EventService(sessions, load_taxonomy())
    subs = SubscriptionService(sessions, events)
    sub = subs.create(SubscriptionIn(url="http://127.0.0.1:9/x", secret=SECRET))
    events.create(event_in(), actor="test")
    subs.dispatch()
    first = subs.claim(sub.id, lease=0.3)
    assert first is not None and first.attempt == 1
    assert subs.claim(sub.id, lease=0.3) is None  # held: no second worker sends it meanwhile
    # ... the hub holding it dies without recording anything ...
    second = wait_for(lambda: subs.claim(sub.id, lease=5), 5, what="the lease to run out")
    assert (second.id, second.attempt) == (first.id, 1)  # the same delivery, receivers de-duplicate
    subs.record(first, True, 200, None, None)  # the dead hub's late answer counts for nothing
    assert subs.deliveries(sub.id)[0].status == "pending"
    subs.record(second, True, 200, None, None)
    assert (subs.deliveries(sub.id)[0].status, subs.deliveries(sub.id)[0].attempts) == ("delivered", 1)


def test_backoff_grows_capped_with_jitter():
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 30.0, rng) for n in range(1, 10)]
    caps = [min(30.0, 2 ** (n - 1)) for n in range(1, 10)]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert max(delays) <= 30.0 and len(set(delays)) == len(delays)


def test_a_stored_filter_that_no_longer_validates_holds_only_its_own_subscription(sessions, caplog):
    """A filter stored before the checks of today (here a `since` with no UTC equivalent)
    raised out of dispatch: the round ended, and the subscriptions after it in the list were
    never served again."""
    events = EventService(sessions, load_taxonomy())
    subs = SubscriptionService(sessions, events)
    good = subs.create(SubscriptionIn(url="http://127.0.0.1:9/good", secret=SECRET))
    with sessions.begin() as s:
        row = s.get(SubscriptionRow, good.id)
        assert row is not None
        s.add(
            SubscriptionRow(
                id="0" * 32,  # first in any order the database picks
                url="http://127.0.0.1:9/old",
                secret=SECRET,
                description="",
                active=True,
                filters={"since": "0001-01-01T00:00:00+05:00"},
                cursor=0,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        )
    events.create(event_in(), actor="test")
    with caplog.at_level(logging.ERROR, logger="videohub.webhooks"):
        assert subs.dispatch() == 1
    assert subs.get(good.id).pending == 1
    assert "0" * 32 in caplog.text and "held" in caplog.text


class TricklingReceiver:
    """Answers 200 at once, then announces a 100 MB body and sends it a byte every 0.3 s:
    each read comes well within any read timeout, so a client reading the body never ends."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.stopped = threading.Event()
        self.answered = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
            self.answered += 1
            while not self.stopped.wait(0.3):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    def close(self) -> None:
        self.stopped.set()
        self._thread.join(5)
        self.sock.close()


def test_a_receiver_that_answers_2xx_then_trickles_its_body_does_not_hold_the_worker(live_hub):
    """The status line is the answer: the worker read the whole response body, so a receiver
    that trickled one (each byte within the read timeout) held the attempt open for ever (the
    delivery never recorded, the hub unable to stop), and a huge body was read into memory."""
    trickle = TricklingReceiver()
    try:
        hub = live_hub([], webhooks=FAST)
        sub = subscribe(hub.http, trickle.url)
        hub.http.post("/api/v1/events", json=body())

        def delivered() -> bool:
            deliveries = hub.http.get(f"/api/v1/subscriptions/{sub['id']}/deliveries").json()
            return [(d["status"], d["last_status_code"]) for d in deliveries] == [("delivered", 200)]

        wait_for(delivered, 8, what="the delivery recorded on the 200")
        assert trickle.answered == 1
    finally:
        trickle.close()
