"""The NATS JetStream publisher against the real server at 127.0.0.1:4222: subjects,
de-duplicated message ids, and resuming from the stored cursor after a restart and after
a time with NATS unreachable. Each test uses a stream and subject prefix of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_events import body
from tests.conftest import free_port, wait_for
from tests.events.conftest import event_in
from tests.events.tcp_proxy import TcpProxy
from videohub.db import init_db, make_engine
from videohub.events.cursors import OutboxCursors
from videohub.events.nats_publisher import subject_token
from videohub.events.service import EventService
from videohub.taxonomy import load_taxonomy

NATS_URL = os.environ.get("VIDEOHUB_TEST_NATS", "nats://127.0.0.1:4222")


def _require_nats() -> None:
    host, port = NATS_URL.rsplit("//", 1)[1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"NATS with JetStream is required in CI at {NATS_URL}: {exc}")
        pytest.skip(f"NATS not reachable at {NATS_URL} ({exc})")


async def _js(fn: Any) -> Any:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=3, allow_reconnect=False)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def stream_messages(stream: str) -> list[Any]:
    """Every message of the stream, oldest first (subject, headers, data)."""
    from nats.js.errors import NotFoundError

    async def read(js: Any) -> list[Any]:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        return [await js.get_msg(stream, seq) for seq in range(1, info.state.last_seq + 1)]

    result: list[Any] = asyncio.run(_js(read))
    return result


@pytest.fixture
def jetstream() -> Iterator[dict[str, str]]:
    _require_nats()
    tag = uuid.uuid4().hex[:8]
    names = {"stream": f"VH_TEST_{tag}", "subject_prefix": f"vhtest_{tag}.events"}
    yield names

    async def drop(js: Any) -> None:
        from nats.js.errors import NotFoundError

        with contextlib.suppress(NotFoundError):
            await js.delete_stream(names["stream"])

    asyncio.run(_js(drop))


def test_publishes_subjects_and_ids_and_resumes_from_the_cursor(live_hub, jetstream, tmp_path):
    fast = {"reconnect_initial": 0.1, "reconnect_max": 0.3, "connect_timeout": 1, "poll_interval": 0.5}
    stream, prefix = jetstream["stream"], jetstream["subject_prefix"]

    # NATS unreachable: the hub runs, the change waits in the outbox behind the cursor.
    hub = live_hub([], nats={"url": f"nats://127.0.0.1:{free_port()}", **jetstream, **fast})
    first = hub.http.post("/api/v1/events", json=body(region_code="150102")).json()
    assert hub.runtime.nats is not None and not hub.runtime.nats.connected
    hub.stop()
    assert stream_messages(stream) == []

    hub = live_hub([], nats={"url": NATS_URL, **jetstream, **fast})
    second = hub.http.post("/api/v1/events", json=body(region_code=None, category_code="0401")).json()
    hub.http.post(f"/api/v1/events/{first['id']}/transitions", json={"to_status": 20, "actor": "clerk"})
    wait_for(lambda: len(stream_messages(stream)) == 3, 10, what="three messages")
    metrics = hub.http.get("/metrics").text
    assert "videohub_nats_connected 1.0" in metrics and "videohub_nats_published_seq 3.0" in metrics
    msgs = stream_messages(stream)
    assert [m.subject for m in msgs] == [f"{prefix}.150102.0402", f"{prefix}._.0401", f"{prefix}.150102.0402"]
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [f"{first['id']}:1", f"{second['id']}:2", f"{first['id']}:3"]
    assert [m.headers["Videohub-Event"] for m in msgs] == ["created", "created", "transition"]
    data = json.loads(msgs[2].data)
    assert (data["seq"], data["kind"], data["event"]["id"], data["event"]["status"]) == (
        3,
        "transition",
        first["id"],
        20,
    )
    hub.stop()

    # While the hub is down another writer adds a change; and the cursor is set back as if
    # the hub had died after publishing 2 and 3 but before storing the cursor.
    sessions = init_db(make_engine(f"sqlite:///{tmp_path}/hub.db"))
    third = EventService(sessions, load_taxonomy()).create(event_in(region_code="150105"), actor="other")[0]
    cursors = OutboxCursors(sessions)
    assert cursors.get(f"nats:{stream}") == 3
    with sessions.begin() as s:
        from videohub.events.subscription_models import OutboxCursorRow

        s.get_one(OutboxCursorRow, f"nats:{stream}").seq = 1

    live_hub([], nats={"url": NATS_URL, **jetstream, **fast})
    wait_for(lambda: cursors.get(f"nats:{stream}") == 4, 10, what="the cursor to reach seq 4")
    msgs = stream_messages(stream)
    # 2 and 3 went out again but JetStream dropped them by their Nats-Msg-Id: 4 in all.
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [
        f"{first['id']}:1",
        f"{second['id']}:2",
        f"{first['id']}:3",
        f"{third.id}:4",
    ]
    assert msgs[3].subject == f"{prefix}.150105.0401"


def test_nats_going_away_and_coming_back_while_the_hub_runs(live_hub, jetstream):
    host, port = NATS_URL.rsplit("//", 1)[1].split(":")
    proxy = TcpProxy((host, int(port)))
    try:
        fast = {"reconnect_initial": 0.1, "reconnect_max": 0.3, "connect_timeout": 1, "publish_timeout": 1}
        hub = live_hub([], nats={"url": f"nats://127.0.0.1:{proxy.port}", **jetstream, **fast, "poll_interval": 0.5})
        publisher = hub.runtime.nats
        assert publisher is not None
        hub.http.post("/api/v1/events", json=body(title="before"))
        wait_for(lambda: len(stream_messages(jetstream["stream"])) == 1, 10, what="the first message")
        proxy.cut()
        titles = ["during 1", "during 2"]
        for title in titles:
            hub.http.post("/api/v1/events", json=body(title=title))
        wait_for(lambda: not publisher.connected, 10, what="the publisher to notice")
        assert len(stream_messages(jetstream["stream"])) == 1
        proxy.start()  # same port
        wait_for(lambda: len(stream_messages(jetstream["stream"])) == 3, 10, what="the changes made meanwhile")
        got = [json.loads(m.data)["event"]["title"] for m in stream_messages(jetstream["stream"])]
        assert got == ["before", *titles]
        wait_for(lambda: publisher.cursor == 3, 5, what="the cursor")
    finally:
        proxy.cut()


def test_an_existing_stream_gets_the_subjects_added(live_hub, jetstream):
    stream, prefix = jetstream["stream"], jetstream["subject_prefix"]
    other = f"{prefix}_other.>"

    async def make(js: Any) -> None:
        await js.add_stream(name=stream, subjects=[other])

    asyncio.run(_js(make))
    hub = live_hub([], nats={"url": NATS_URL, **jetstream, "poll_interval": 0.5})
    hub.http.post("/api/v1/events", json=body())
    wait_for(lambda: len(stream_messages(stream)) == 1, 10, what="one message")

    async def subjects(js: Any) -> list[str]:
        return list((await js.stream_info(stream)).config.subjects)

    assert asyncio.run(_js(subjects)) == [other, f"{prefix}.>"]


def test_nats_is_off_without_a_url(live_hub):
    hub = live_hub([], nats={"url": "", "stream": "X"})
    assert hub.runtime.nats is None


def test_subject_tokens_are_sanitised():
    assert subject_token("a.b *>c\t") == "a_b___c_"
    assert subject_token(None) == "_" and subject_token("") == "_"
    assert subject_token("150102001") == "150102001" and subject_token("0401") == "0401"


def test_a_change_too_big_for_nats_goes_out_without_its_evidence(live_hub, jetstream, caplog):
    """NATS refuses a message above the server's max_payload (1 MiB by default) before it
    is sent; an event whose evidence was that big was retried with every reconnect, and no
    change after it was ever published. It goes out without its evidence, marked."""
    fast = {"reconnect_initial": 0.1, "reconnect_max": 0.3, "connect_timeout": 1, "poll_interval": 0.5}
    stream = jetstream["stream"]
    hub = live_hub([], nats={"url": NATS_URL, **jetstream, **fast})
    wait_for(lambda: hub.runtime.nats is not None and hub.runtime.nats.connected, 10, what="connected")
    huge = body(title="huge", evidence={"model": "yolo", "extra": {"notes": "x" * 1_200_000}})
    big = hub.http.post("/api/v1/events", json=huge).json()
    after = hub.http.post("/api/v1/events", json=body(title="after")).json()
    wait_for(lambda: len(stream_messages(stream)) == 2, 10, what="the huge change and the one after it")
    first, second = stream_messages(stream)
    assert first.headers["Nats-Msg-Id"] == f"{big['id']}:1" and first.headers["Videohub-Truncated"] == "evidence"
    data = json.loads(first.data)
    assert data["event"]["title"] == "huge" and data["event"]["evidence"]["extra"] == {}
    assert second.headers["Nats-Msg-Id"] == f"{after['id']}:2" and "Videohub-Truncated" not in second.headers
    assert f"seq 1 of event {big['id']}" in caplog.text
