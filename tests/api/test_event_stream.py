"""GET /api/v1/events/stream (Server-Sent Events) through a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from tests.api.test_events import body, hub_db  # noqa: F401  (hub_db: a fixture)
from tests.conftest import wait_for
from videohub.api import sse


class SseReader:
    """Reads one SSE response message by message (comments included, as ':' lines)."""

    def __init__(self, base: str, params: dict | None = None, last_id: str | None = None) -> None:
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(10))
        headers = {"Last-Event-ID": last_id} if last_id is not None else {}
        self._cm = self.client.stream("GET", "/api/v1/events/stream", params=params, headers=headers)
        self.response = self._cm.__enter__()
        self._lines = self.response.iter_lines()

    def messages(self) -> Iterator[dict]:
        fields: dict = {}
        for line in self._lines:
            if line == "":
                if fields:
                    yield fields
                fields = {}
                continue
            key, _, value = line.partition(":")
            fields[key or "comment"] = value.lstrip(" ")

    def events(self, n: int) -> list[tuple[int, str, dict]]:
        out = []
        for msg in self.messages():
            if "id" in msg:
                out.append((int(msg["id"]), msg["event"], json.loads(msg["data"])))
                if len(out) == n:
                    return out
        raise AssertionError(f"stream ended after {out}")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self.client.close()


def test_resume_with_last_event_id_then_live(hub_db, live_hub):  # noqa: F811
    hub = live_hub([], **hub_db)
    http = hub.http
    ids = [http.post("/api/v1/events", json=body(title=f"e{i}")).json()["id"] for i in range(3)]
    reader = SseReader(hub.base, last_id="1")
    try:
        assert reader.response.status_code == 200
        assert reader.response.headers["content-type"].startswith("text/event-stream")
        replay = reader.events(2)
        assert [(seq, kind, data["event"]["id"]) for seq, kind, data in replay] == [
            (2, "created", ids[1]),
            (3, "created", ids[2]),
        ]
        fourth = http.post("/api/v1/events", json=body(title="live")).json()["id"]
        ((seq, kind, data),) = reader.events(1)
        assert (seq, kind, data["event"]["id"], data["seq"]) == (4, "created", fourth, 4)
    finally:
        reader.close()
    # while nobody listens: a transition; a client resuming from 4 gets it
    http.post(f"/api/v1/events/{ids[0]}/transitions", json={"to_status": 20, "actor": "clerk"})
    reader = SseReader(hub.base, last_id="4")
    try:
        ((seq, kind, data),) = reader.events(1)
        assert (seq, kind, data["event"]["id"], data["event"]["status"]) == (5, "transition", ids[0], 20)
    finally:
        reader.close()


def test_stream_filters_and_starts_now_without_last_event_id(live_hub):
    hub = live_hub([])
    http = hub.http
    http.post("/api/v1/events", json=body(title="old", source="ai_video"))
    reader = SseReader(hub.base, params={"source": "ai_video", "region": "150103"})
    try:
        http.post("/api/v1/events", json=body(title="other source", source="grid_worker"))
        http.post("/api/v1/events", json=body(title="other region", source="ai_video", region_code="150104"))
        http.post("/api/v1/events", json=body(title="wanted", source="ai_video"))
        ((seq, _, data),) = reader.events(1)
        assert (seq, data["event"]["title"]) == (4, "wanted")
    finally:
        reader.close()
    # an id from a database that has since been replaced: everything in this one
    reader = SseReader(hub.base, params={"source": "ai_video", "region": "150103"}, last_id="999")
    try:
        assert [data["event"]["title"] for _, _, data in reader.events(2)] == ["old", "wanted"]
    finally:
        reader.close()
    r = http.get("/api/v1/events/stream", params={"category": "nope"})
    assert r.status_code == 422 and r.json()["field"] == "category"
    r = http.get("/api/v1/events/stream", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"]


def test_keep_alive_and_the_stream_ends_on_disconnect_and_shutdown(live_hub, monkeypatch):
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.2)
    hub = live_hub([])
    reader = SseReader(hub.base)
    comments = []
    for msg in reader.messages():
        comments.append(msg.get("comment"))
        if msg.get("comment") == "keep-alive":
            break
    state = hub._server.server_state
    assert len(state.tasks) == 1  # the stream's task, live
    reader.close()
    # the server notices the client left and ends the response (its task finishes)
    wait_for(lambda: not state.connections and not state.tasks, 5, what="stream ended on the server side")
    reader = SseReader(hub.base)
    hub.runtime.notifier.close()  # the hub stops: open streams end by themselves
    assert [m for m in reader.messages() if "id" in m] == []
    reader.close()


def test_videohub_serve_stops_promptly_while_a_client_listens(tmp_path):
    """uvicorn waits for open responses at shutdown: the hub must end its streams first."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    (tmp_path / "hub.yaml").write_text(
        f"server: {{host: 127.0.0.1, port: {port}, rtsp_port: null}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/hub.db'}}\nmodels_dir: null\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "videohub.cli", "serve", "--config", str(tmp_path / "hub.yaml")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/api/v1/taxonomy/regions", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, what="videohub serve up")
        reader = SseReader(base)
        assert next(reader.messages()) == {"retry": "3000"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) in (0, 130), "serve did not stop"  # 130: uvicorn re-raises the SIGINT it caught
        reader.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
    assert "Traceback" not in out, out
