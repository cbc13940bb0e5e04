"""/api/v1/events and /api/v1/taxonomy over real HTTP (uvicorn), SQLite store."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from tests.events.conftest import T0, pg_database

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
GATE = {
    "id": "gate",
    "stream_url": "rtsp://127.0.0.1:1/none",
    "enabled": False,
    "device_code": "15010200001320000001",
    "region_code": "150102001",
    "lon": 111.7,
    "lat": 40.8,
}


def body(**changes):
    data = {
        "title": "Smoke over the market",
        "category_code": "0402",
        "level": 3,
        "source": "citizen_app",
        "region_code": "150103",
        "occurred_at": T0.isoformat(),
    }
    data.update(changes)
    return data


def test_taxonomy_endpoints(live_hub):
    http = live_hub([]).http
    tax = http.get("/api/v1/taxonomy").json()
    assert set(tax) == {"categories", "levels", "sources", "statuses", "close_reasons", "regions"}
    assert len(tax["sources"]) == 19 and [s["code"] for s in tax["statuses"]] == [10, 20, 30, 40, 50, 60, 70]
    fire = next(n for m in tax["categories"] for n in m["minors"] if n["code"] == "0401")
    assert fire["onvif"] == ["Fire"] and fire["name_zh"] == "火情/明火"
    regions = http.get("/api/v1/taxonomy/regions").json()
    assert regions[0]["code"] == "150100" and len(regions[0]["children"]) == 10


def test_create_get_snapshot_and_camera_facts(live_hub):
    http = live_hub([GATE]).http
    r = http.post(
        "/api/v1/events",
        json=body(camera_id="gate", region_code=None, snapshot_jpeg=base64.b64encode(JPEG).decode()),
    )
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["region_code"], ev["device_code"], ev["lat"]) == ("150102001", "15010200001320000001", 40.8)
    assert ev["status"] == 10 and ev["has_snapshot"] and ev["occurred_at"].startswith("2026-05-01T08:00:00")
    assert ev["process"][0]["actor"] == "api:citizen_app"
    assert http.get(f"/api/v1/events/{ev['id']}").json() == ev
    snap = http.get(f"/api/v1/events/{ev['id']}/snapshot.jpg")
    assert snap.status_code == 200 and snap.content == JPEG and snap.headers["content-type"] == "image/jpeg"
    plain = http.post("/api/v1/events", json=body()).json()
    r = http.get(f"/api/v1/events/{plain['id']}/snapshot.jpg")
    assert r.status_code == 404 and "no snapshot" in r.json()["detail"]
    assert http.get("/api/v1/events/nope").status_code == 404
    assert http.get("/api/v1/events/nope/snapshot.jpg").status_code == 404


def test_bad_events_get_422_naming_field_and_allowed_codes(live_hub):
    http = live_hub([]).http
    r = http.post("/api/v1/events", json=body(category_code="0499"))
    assert r.status_code == 422
    err = r.json()
    assert err["field"] == "category_code" and "0401" in err["allowed"] and "0499" in err["detail"]
    r = http.post("/api/v1/events", json=body(level=7))
    assert r.status_code == 422 and r.json()["allowed"] == ["1", "2", "3", "4", "5"]
    r = http.post("/api/v1/events", json=body(source="fax"))
    assert r.status_code == 422 and "hotline_12345" in r.json()["allowed"]
    r = http.post("/api/v1/events", json=body(camera_id="ghost"))
    assert r.status_code == 422 and "camera_id" in r.json()["detail"]
    r = http.post("/api/v1/events", json=body(occurred_at="2026-05-01T08:00:00"))
    assert r.status_code == 422 and "occurred_at" in r.json()["detail"]
    r = http.post("/api/v1/events", json=body(colour="red"))
    assert r.status_code == 422 and "colour: unknown field" in r.json()["detail"]
    r = http.post("/api/v1/events", json=body(snapshot_jpeg=base64.b64encode(b"GIF89a").decode()))
    assert r.status_code == 422 and "snapshot_jpeg" in r.json()["detail"]
    r = http.get("/api/v1/events", params={"category": "zz"})
    assert r.status_code == 422 and r.json()["field"] == "category"
    r = http.get("/api/v1/events", params={"level": "x"})
    assert r.status_code == 422 and r.json()["field"] == "level"
    assert http.get("/api/v1/events").json() == {"items": [], "next_cursor": None}


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request):
    """Config sections for the hub's database. Requested before live_hub, so it is torn
    down after the hub has stopped."""
    if request.param == "sqlite":
        yield {}
        return
    url, drop = pg_database()
    yield {"database": {"url": url}}
    drop()


def test_concurrent_retries_over_http_make_one_event(hub_db, live_hub):
    hub = live_hub([], **hub_db)
    statuses: list[int] = []
    ids: list[str] = []
    barrier = threading.Barrier(10)

    def post() -> None:
        with httpx.Client(base_url=hub.base, timeout=20) as client:
            barrier.wait()
            r = client.post("/api/v1/events", json=body(), headers={"Idempotency-Key": "ticket-12345-1"})
            statuses.append(r.status_code)
            ids.append(r.json()["id"])

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 9 + [201] and len(set(ids)) == 1
    assert [e["id"] for e in hub.http.get("/api/v1/events").json()["items"]] == ids[:1]
    r = hub.http.post("/api/v1/events", json=body(title="other"), headers={"Idempotency-Key": "ticket-12345-1"})
    assert r.status_code == 422 and "different request" in r.json()["detail"]


def test_transitions_over_http(live_hub):
    http = live_hub([]).http
    ev = http.post("/api/v1/events", json=body()).json()
    url = f"/api/v1/events/{ev['id']}/transitions"
    r = http.post(url, json={"to_status": 20, "actor": "clerk", "comment": "filed"})
    assert r.status_code == 200 and r.json()["status"] == 20
    r = http.post(url, json={"to_status": 50, "actor": "clerk"})
    assert r.status_code == 409
    assert r.json()["allowed"] == [30, 60] and "allowed next statuses: 30, 60" in r.json()["detail"]
    r = http.post(url, json={"to_status": 60, "actor": "clerk", "close_reason": "resolved"})
    assert r.status_code == 422 and r.json()["allowed"] == ["voided", "duplicate"]
    r = http.post(url, json={"to_status": 99, "actor": "clerk"})
    assert r.status_code == 422 and r.json()["field"] == "to_status"
    r = http.post(url, json={"to_status": 60, "actor": "clerk", "close_reason": "duplicate", "comment": "see #1"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["close_reason"]) == (60, "duplicate")
    assert [p["to_status"] for p in r.json()["process"]] == [10, 20, 60]
    assert http.post(url, json={"to_status": 60}).status_code == 422  # actor is required
    assert http.post("/api/v1/events/nope/transitions", json={"to_status": 20, "actor": "a"}).status_code == 404


def test_list_filters_and_cursor_over_http(live_hub):
    http = live_hub([]).http
    made = []
    for i, region in enumerate(["150102", "150102001", "150102001002", "150103", "150172"]):
        made.append(
            http.post(
                "/api/v1/events",
                json=body(region_code=region, occurred_at=f"2026-05-01T08:0{i}:00+08:00", level=1 + i % 2),
            ).json()["id"]
        )
    page = http.get("/api/v1/events", params={"region": "150102", "limit": 2}).json()
    assert [e["id"] for e in page["items"]] == [made[2], made[1]]
    page2 = http.get("/api/v1/events", params={"region": "150102", "limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["id"] for e in page2["items"]] == [made[0]] and page2["next_cursor"] is None
    r = http.get("/api/v1/events", params=[("level", "2"), ("region", "150103,150172")])
    assert [e["id"] for e in r.json()["items"]] == [made[3]]
    r = http.get("/api/v1/events", params={"since": "2026-05-01T00:03:00Z", "until": "2026-05-01T00:04:00Z"})
    assert [e["id"] for e in r.json()["items"]] == [made[3]]
    assert http.get("/api/v1/events", params={"cursor": "bogus"}).status_code == 422
    assert http.get("/api/v1/events", params={"limit": 0}).status_code == 422


def test_a_citys_own_tables_are_served_and_enforced(live_hub, tmp_path):
    own = tmp_path / "tables"
    own.mkdir()
    (own / "sources.yaml").write_text(
        "sources:\n  - {code: city_app, name_zh: 城市App, name_en: City app}\n", encoding="utf-8"
    )
    http = live_hub([], taxonomy={"dir": str(own)}).http
    assert [s["code"] for s in http.get("/api/v1/taxonomy").json()["sources"]] == ["city_app"]
    assert http.post("/api/v1/events", json=body(source="city_app")).status_code == 201
    r = http.post("/api/v1/events", json=body(source="citizen_app"))
    assert r.status_code == 422 and r.json()["allowed"] == ["city_app"]


def test_times_without_a_utc_equivalent_are_422_naming_the_field(live_hub):
    """0001-01-01T00:00+05:00 is valid ISO 8601 but lies before year 1 in UTC (and
    9999-12-31T23:59-05:00 after 9999): the store keeps UTC, so converting them raised
    OverflowError, a 500, in the create, the list filters and the cursor."""
    http = live_hub([]).http
    early, late = "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"
    for field, value in [("occurred_at", early), ("occurred_at", late), ("reported_at", early)]:
        r = http.post("/api/v1/events", json=body(**{field: value}))
        assert r.status_code == 422, (field, value, r.text)
        assert f"body.{field}" in r.json()["detail"] and "UTC" in r.json()["detail"]
    for param, value in [("since", early), ("until", late)]:
        r = http.get("/api/v1/events", params={param: value})
        assert r.status_code == 422, (param, r.text)
        assert f"query.{param}" in r.json()["detail"]
    cursor = base64.urlsafe_b64encode(json.dumps([early, "a"]).encode()).decode().rstrip("=")
    r = http.get("/api/v1/events", params={"cursor": cursor})
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    r = http.post("/api/v1/events/batch", json={"items": [{"event": body(occurred_at=early)}, {"event": body()}]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0]["outcome"] == "error" and results[0]["error"]["field"] == "event.occurred_at"
    assert results[1]["outcome"] == "created"
    # A day that stays within range in UTC is fine at both ends.
    assert http.post("/api/v1/events", json=body(occurred_at="0001-01-01T00:00:00-05:00")).status_code == 201
    assert http.get("/api/v1/events").status_code == 200


def test_nan_and_infinity_in_evidence_are_422(live_hub):
    """Python's JSON parser reads NaN and Infinity; stored, they broke PostgreSQL's JSON
    column (500) and came back as null in the change's webhook payload, which then no
    longer validated: that delivery was retried for ever, holding up its subscription."""
    http = live_hub([]).http
    for value in ("Infinity", "-Infinity", "NaN"):
        raw = json.dumps(body(evidence={"detections": [{"label": "car", "score": 0.5, "box": [1, 2, 3, 4]}]}))
        raw = raw.replace("[1, 2, 3, 4]", f"[1, 2, {value}, 4]")
        r = http.post("/api/v1/events", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["errors"][0]["loc"] == ["body", "evidence", "detections", "0", "box", "2"]
    assert http.get("/api/v1/events").json()["items"] == []


def test_an_empty_idempotency_key_is_refused_not_shared(live_hub):
    """An empty Idempotency-Key header was stored as the key "": the next request with an
    empty header, a different event, was refused as a reuse of that key (or replayed)."""
    http = live_hub([]).http
    r = http.post("/api/v1/events", json=body(title="first"), headers={"Idempotency-Key": ""})
    assert r.status_code == 422 and "idempotency-key" in r.json()["detail"]
    r = http.post("/api/v1/events", json=body(title="second"), headers={"Idempotency-Key": ""})
    assert r.status_code == 422 and "idempotency-key" in r.json()["detail"]
    assert http.get("/api/v1/events").json()["items"] == []


def test_nul_characters_are_422_naming_the_field_on_both_databases(hub_db, live_hub):
    """PostgreSQL cannot hold NUL in text, nor take it as a query parameter: psycopg raised
    DataError, a 500, for titles, actors, subscription fields, filters and ids, where SQLite
    stored them. Refused on both, naming the field."""
    hub = live_hub([], **hub_db)
    http = hub.http
    ev = http.post("/api/v1/events", json=body()).json()

    def refused(r: httpx.Response, where: str) -> None:
        assert r.status_code == 422, (where, r.status_code, r.text)
        assert where in r.json()["detail"] and "x00" in r.json()["detail"], r.text

    refused(http.post("/api/v1/events", json=body(title="a\x00b")), "body.title")
    refused(http.post("/api/v1/events", json=body(source_ref="t\x00")), "body.source_ref")
    refused(http.post(f"/api/v1/events/{ev['id']}/transitions", json={"to_status": 20, "actor": "a\x00"}), "body.actor")
    refused(http.get("/api/v1/events", params={"camera": "a\x00b"}), "query.camera")
    refused(http.get("/api/v1/events/stream", params={"camera": "a\x00b"}), "query.camera")
    refused(http.get("/api/v1/events/a%00b"), "path.event_id")
    refused(http.get("/api/v1/events/a%00b/snapshot.jpg"), "path.event_id")
    refused(http.post("/api/v1/events/a%00b/transitions", json={"to_status": 20, "actor": "a"}), "path.event_id")
    cursor = base64.urlsafe_b64encode(json.dumps([T0.isoformat(), "a\x00"]).encode()).decode().rstrip("=")
    r = http.get("/api/v1/events", params={"cursor": cursor})
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    r = http.post("/api/v1/events/batch", json={"items": [{"event": body(title="\x00")}, {"event": body()}]})
    assert [x["outcome"] for x in r.json()["results"]] == ["error", "created"]
    assert r.json()["results"][0]["error"]["field"] == "event.title"
    ok = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 16}
    refused(http.post("/api/v1/subscriptions", json={**ok, "description": "\x00"}), "body.description")
    refused(http.post("/api/v1/subscriptions", json={**ok, "secret": "s" * 16 + "\x00"}), "body.secret")
    refused(
        http.post("/api/v1/subscriptions", json={**ok, "filters": {"camera_id": ["\x00"]}}), "body.filters.camera_id"
    )
    refused(http.get("/api/v1/subscriptions/a%00b"), "path.sub_id")
    refused(http.get("/api/v1/subscriptions/a%00b/deliveries"), "path.sub_id")
    # nothing of the above was stored; the hub still answers
    stored = http.get("/api/v1/events").json()["items"]
    assert len(stored) == 2 and ev["id"] in {e["id"] for e in stored}  # ev and the batch's valid item
    assert http.get("/api/v1/subscriptions").json() == []


def test_a_lone_surrogate_in_evidence_extra_is_422(hub_db, live_hub):
    """`"\\ud800"` is valid JSON but not Unicode text: typed string fields refuse it, the
    free-form `evidence.extra` kept it and the request failed to encode it later (500)."""
    hub = live_hub([], **hub_db)
    for extra in ({"note": "PLACEHOLDER"}, {"PLACEHOLDER": 1}, {"list": ["ok", {"deep": "PLACEHOLDER"}]}):
        raw = json.dumps(body(evidence={"extra": extra})).replace("PLACEHOLDER", "a\\ud800")
        r = hub.http.post("/api/v1/events", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "evidence", "extra"] and "surrogate" in r.json()["detail"]
    ok = hub.http.post("/api/v1/events", json=body(evidence={"extra": {"note": "火情 🔥"}}))
    assert ok.status_code == 201 and ok.json()["evidence"]["extra"] == {"note": "火情 🔥"}


def test_a_busy_connection_pool_is_503_not_500(live_hub):
    """With every pooled connection busy past the pool's timeout SQLAlchemy raises its
    TimeoutError, which reached the client as a 500: a retryable condition said as a bug."""
    hub = live_hub([])
    engine = hub.runtime.engine
    held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]  # type: ignore[attr-defined]
    engine.pool._timeout = 0.2  # type: ignore[attr-defined]
    try:
        r = hub.http.get("/api/v1/events")
        assert r.status_code == 503 and "busy" in r.json()["detail"] and r.headers["Retry-After"] == "1"
        r = hub.http.post("/api/v1/events", json=body(), headers={"Idempotency-Key": "busy-1"})
        assert r.status_code == 503
    finally:
        for conn in held:
            conn.close()
    r = hub.http.post("/api/v1/events", json=body(), headers={"Idempotency-Key": "busy-1"})
    assert r.status_code == 201  # nothing was recorded by the refused attempt
