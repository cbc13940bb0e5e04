"""Batched create: `EventService.create_many` on SQLite and PostgreSQL, and
POST /api/v1/events/batch over real HTTP."""

from __future__ import annotations

import base64

import pytest

from tests.events.conftest import T0, at, event_in
from videohub.events.notify import ChangeNotifier
from videohub.events.schema import EventFilter
from videohub.events.service import EventService, IdempotencyConflict
from videohub.taxonomy import TaxonomyError

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def test_batch_records_every_valid_item_with_its_outbox_row(service: EventService):
    woken: list[int] = []

    class Spy(ChangeNotifier):
        def notify(self, seq: int) -> None:
            woken.append(seq)
            super().notify(seq)

    service.notifier = Spy()
    items = [
        (event_in(title="a", occurred_at=at(1)), None),
        (event_in(title="bad", category_code="0499"), None),
        (event_in(title="c", occurred_at=at(3), camera_id="gate", region_code=None), "k-c"),
        (event_in(title="d", occurred_at=at(4), snapshot_jpeg=base64.b64encode(JPEG).decode()), None),
    ]
    outcomes = service.create_many(items, actor=lambda e: f"batch:{e.source}")
    assert [o.created for o in outcomes] == [True, False, True, True]
    bad = outcomes[1]
    assert bad.event_id is None and isinstance(bad.error, TaxonomyError) and bad.error.field == "category_code"
    ids = [o.event_id for o in outcomes if o.created]
    changes = service.changes_after(0)
    # one 'created' outbox row per new event, in item order, and one wake-up after the commit
    assert [(c.kind, c.event.id) for c in changes] == [("created", i) for i in ids]
    assert woken == [changes[-1].seq]
    c = service.get(ids[1])
    assert (c.region_code, c.device_code) == ("150102001", "15010200001320000001")  # camera facts
    assert [(p.actor, p.from_status, p.to_status) for p in c.process] == [("batch:hotline_12345", None, 10)]
    assert service.snapshot(ids[2]) == JPEG and service.get(ids[2]).has_snapshot
    assert [e.title for e in service.list(EventFilter()).items] == ["d", "c", "a"]


def test_batch_keys_replay_across_batches_singles_and_within_a_batch(service: EventService):
    single, _ = service.create(event_in(title="single"), actor="a", idempotency_key="s1")
    outcomes = service.create_many(
        [
            (event_in(title="single"), "s1"),  # replay of the single request
            (event_in(title="new"), "n1"),
            (event_in(title="new"), "n1"),  # same key, same event, same batch: one event
            (event_in(title="other"), "s1"),  # key reused for a different event
            (event_in(title="twin"), "n1"),  # same batch, different event
        ],
        actor="x",
    )
    assert [(o.created, o.error is None) for o in outcomes] == [
        (False, True),
        (True, True),
        (False, True),
        (False, False),
        (False, False),
    ]
    assert outcomes[0].event_id == single.id
    assert outcomes[1].event_id == outcomes[2].event_id is not None
    assert isinstance(outcomes[3].error, IdempotencyConflict) and "s1" in str(outcomes[3].error)
    assert isinstance(outcomes[4].error, IdempotencyConflict) and "item 1 of this batch" in str(outcomes[4].error)
    # a retry of the whole batch makes nothing new and names the same events
    again = service.create_many([(event_in(title="single"), "s1"), (event_in(title="new"), "n1")], actor="x")
    assert [(o.event_id, o.created) for o in again] == [(single.id, False), (outcomes[1].event_id, False)]
    # and a single request with a batch item's key replays it too
    out, created = service.create(event_in(title="new"), actor="a", idempotency_key="n1")
    assert (out.id, created) == (outcomes[1].event_id, False)
    assert len(service.list(EventFilter()).items) == 2
    assert [c.kind for c in service.changes_after(0)] == ["created", "created"]


def test_batch_with_only_bad_items_writes_nothing(service: EventService):
    outcomes = service.create_many([(event_in(level=9), None), (event_in(region_code="150106"), "k")], actor="x")
    assert [o.error is not None for o in outcomes] == [True, True]
    assert service.changes_after(0) == [] and service.list(EventFilter()).items == []


def test_a_full_batch_fits_in_one_transaction_and_more_is_refused(service: EventService):
    outcomes = service.create_many([(event_in(occurred_at=at(i)), f"k{i}") for i in range(1000)], actor="x")
    assert all(o.created for o in outcomes) and len({o.event_id for o in outcomes}) == 1000
    changes = service.changes_after(0, limit=2000)
    assert len(changes) == 1000 and [c.seq for c in changes] == sorted(c.seq for c in changes)
    with pytest.raises(ValueError, match="at most 1000"):
        service.create_many([(event_in(), None)] * 1001, actor="x")


def body(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "Piled materials",
        "category_code": "0401",
        "level": 4,
        "source": "grid_worker",
        "region_code": "150104",
        "occurred_at": T0.isoformat(),
    }
    data.update(changes)
    return data


def test_batch_endpoint_reports_each_item(live_hub):
    http = live_hub([]).http
    items = [
        {"idempotency_key": "b-0", "event": body(title="first")},
        {"event": body(level=9)},  # unknown code: refused with the allowed ones
        {"event": body(lon=111.7)},  # schema error: lon without lat
        {"event": body(), "colour": "red"},  # unknown field of the item
        {"event": body(title="fifth")},
    ]
    r = http.post("/api/v1/events/batch", json={"items": items})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["replayed"], out["failed"]) == (2, 0, 3)
    res = out["results"]
    assert [x["index"] for x in res] == [0, 1, 2, 3, 4]
    assert [x["outcome"] for x in res] == ["created", "error", "error", "error", "created"]
    assert res[1]["error"]["field"] == "event.level" and res[1]["error"]["allowed"] == ["1", "2", "3", "4", "5"]
    assert res[2]["error"]["field"] == "event" and "lon and lat go together" in res[2]["error"]["detail"]
    assert res[3]["error"]["field"] == "colour" and "unknown field" in res[3]["error"]["detail"]
    first = http.get(f"/api/v1/events/{res[0]['id']}").json()
    assert first["title"] == "first" and first["process"][0]["actor"] == "api:grid_worker"

    # the key replays through the batch and through the single endpoint alike
    again = http.post("/api/v1/events/batch", json={"items": items[:1]}).json()
    assert again["results"] == [{"index": 0, "outcome": "replayed", "id": res[0]["id"], "error": None}]
    single = http.post("/api/v1/events", json=body(title="first"), headers={"Idempotency-Key": "b-0"})
    assert single.status_code == 200 and single.json()["id"] == res[0]["id"]
    assert len(http.get("/api/v1/events").json()["items"]) == 2


def test_batch_envelope_errors_are_422(live_hub):
    http = live_hub([]).http
    assert http.post("/api/v1/events/batch", json={"items": []}).status_code == 422
    assert http.post("/api/v1/events/batch", json={"items": [{"event": body()}] * 1001}).status_code == 422
    assert http.post("/api/v1/events/batch", json=[body()]).status_code == 422


def test_a_key_stored_by_a_racing_request_falls_back_to_one_by_one(service: EventService, monkeypatch):
    first, _ = service.create(event_in(title="raced"), actor="a", idempotency_key="r1")
    # As if the racing request committed between the batch's key lookup and its insert.
    monkeypatch.setattr(service, "_stored_keys", lambda keys: {})
    outcomes = service.create_many(
        [(event_in(title="raced"), "r1"), (event_in(title="fresh"), "r2"), (event_in(title="other"), "r1")],
        actor="x",
    )
    assert [(o.event_id == first.id, o.created) for o in outcomes[:1]] == [(True, False)]
    assert outcomes[1].created and outcomes[1].event_id is not None
    assert isinstance(outcomes[2].error, IdempotencyConflict)
    assert [c.kind for c in service.changes_after(0)] == ["created", "created"]  # nothing half-written


def test_concurrent_batches_with_the_same_keys_in_any_order_never_deadlock(service: EventService):
    """Two retries of one batch racing, the items in opposite orders: on PostgreSQL each
    transaction took the unique-index locks of its keys in item order, and each then waited
    for the other (DeadlockDetected, answered 503). Keys are inserted in key order now; the
    outbox keeps the item order."""
    import threading

    items = [(event_in(title=f"e{i}", occurred_at=at(i)), f"key-{i:03d}") for i in range(200)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    results: list[list] = []

    def run(batch: list) -> None:
        barrier.wait()
        try:
            results.append(service.create_many(batch, actor="t"))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (items, list(reversed(items)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(sum(o.created for o in r) for r in results) == [0, 200]  # one made them, one replayed
    assert {o.event_id for o in results[0]} == {o.event_id for o in results[1]}
    changes = service.changes_after(0, limit=500)
    assert len(changes) == 200
    order = [c.event.title for c in changes]
    assert order in ([f"e{i}" for i in range(200)], [f"e{i}" for i in reversed(range(200))])
