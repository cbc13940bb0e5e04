"""Request bodies over server.max_request_mb get 413 naming the limit, declared or chunked,
before they are read into memory; the hub goes on serving."""

from __future__ import annotations

from collections.abc import Iterator

EVENT = {
    "title": "Fire",
    "category_code": "0401",
    "level": 2,
    "source": "hotline_12345",
    "occurred_at": "2026-12-01T08:00:00Z",
}


def test_oversized_bodies_are_413_and_the_hub_goes_on(live_hub):
    hub = live_hub([], server={"host": "127.0.0.1", "port": 0, "rtsp_port": 0, "max_request_mb": 0.01})
    http = hub.http
    big = EVENT | {"description": "x" * 20_000}  # 20 kB against a 10 kB limit
    r = http.post("/api/v1/events", json=big)
    assert r.status_code == 413 and "0.01 MiB" in r.json()["detail"] and "max_request_mb" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it comes
        yield b'{"items": ['
        for _ in range(50):
            yield b'{"event": {"title": "' + b"y" * 500 + b'"}},'
        yield b"]}"

    r = http.post("/api/v1/events/batch", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert http.get("/api/v1/events").json()["items"] == []  # nothing half-recorded

    r = http.post("/api/v1/events", json=EVENT)  # within the limit: as usual
    assert r.status_code == 201, r.text
    assert http.get("/api/v1/health").status_code == 200
