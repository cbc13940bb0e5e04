"""EventService on SQLite and PostgreSQL: create, idempotency, transitions, list, outbox."""

from __future__ import annotations

import threading

import pytest

from tests.events.conftest import T0, at, event_in
from videohub.events.schema import EventFilter, Evidence
from videohub.events.service import EventNotFound, EventService, IdempotencyConflict
from videohub.taxonomy import TaxonomyError, TransitionError

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def test_create_and_get(service: EventService):
    out, created = service.create(event_in(camera_id="gate", region_code=None), actor="hotline")
    assert created and len(out.id) == 32
    assert (out.major_code, out.category_code, out.status) == ("04", "0401", 10)
    # camera facts fill what the event left out
    assert (out.region_code, out.device_code, out.lon, out.lat) == ("150102001", "15010200001320000001", 111.7, 40.8)
    assert out.occurred_at == T0 and out.occurred_at.tzinfo is not None
    assert [(p.actor, p.from_status, p.to_status) for p in out.process] == [("hotline", None, 10)]
    assert service.get(out.id) == out
    assert [(c.seq, c.kind, c.event.id) for c in service.changes_after(0)] == [(1, "created", out.id)]
    assert service.snapshot(out.id) is None
    with pytest.raises(EventNotFound):
        service.get("nope")
    with pytest.raises(EventNotFound):
        service.snapshot("nope")


def test_invalid_codes_are_refused_listing_allowed(service: EventService):
    with pytest.raises(TaxonomyError, match="category_code: unknown minor category '0499'; allowed: 0101"):
        service.create(event_in(category_code="0499"), actor="x")
    with pytest.raises(TaxonomyError, match="level.*allowed: 1, 2, 3, 4, 5"):
        service.create(event_in(level=9), actor="x")
    with pytest.raises(TaxonomyError, match="source.*allowed: ai_video"):
        service.create(event_in(source="fax"), actor="x")
    with pytest.raises(TaxonomyError, match="region_code: '150106'"):
        service.create(event_in(region_code="150106"), actor="x")
    with pytest.raises(TaxonomyError, match=r"camera_id \(its region_code\): '110101' is not a division"):
        service.create(event_in(camera_id="beijing", region_code=None), actor="x")
    with pytest.raises(TaxonomyError, match="camera_id: no camera 'ghost'"):
        service.create(event_in(camera_id="ghost"), actor="x")
    assert service.changes_after(0) == []  # nothing half-written


def test_idempotency_key_returns_the_same_event(service: EventService):
    first, created = service.create(event_in(), actor="a", idempotency_key="k1", snapshot_jpeg=JPEG)
    again, created_again = service.create(event_in(), actor="a", idempotency_key="k1", snapshot_jpeg=JPEG)
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict, match="k1"):
        service.create(event_in(title="other"), actor="a", idempotency_key="k1")
    assert len(service.list(EventFilter()).items) == 1
    assert service.snapshot(first.id) == JPEG


def test_concurrent_retries_make_one_event(service: EventService):
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        try:
            barrier.wait()
            out, created = service.create(event_in(), actor="a", idempotency_key="same")
            results.append((out.id, created))
        except BaseException as exc:  # collected: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r[0] for r in results}) == 1 and sorted(r[1] for r in results) == [False] * 7 + [True]
    assert len(service.list(EventFilter()).items) == 1
    assert [c.kind for c in service.changes_after(0)] == ["created"]


def test_full_process_and_refused_steps(service: EventService):
    out, _ = service.create(event_in(), actor="hotline")
    path = [
        (20, "intake"),
        (30, "dispatch"),
        (40, "department"),
        (50, "department"),
        (40, "checker"),
        (50, "department"),
        (60, "checker"),
        (70, "evaluator"),
    ]
    for to, actor in path:
        out = service.transition(out.id, to, actor, comment=f"to {to}")
    assert out.status == 70 and out.close_reason == "resolved"
    assert [(p.from_status, p.to_status) for p in out.process] == [
        (None, 10),
        (10, 20),
        (20, 30),
        (30, 40),
        (40, 50),
        (50, 40),
        (40, 50),
        (50, 60),
        (60, 70),
    ]
    assert out.process[7].close_reason == "resolved" and out.process[7].actor == "checker"
    with pytest.raises(TransitionError, match="allowed next statuses: none"):
        service.transition(out.id, 60, "x")
    assert [c.kind for c in service.changes_after(0)] == ["created"] + ["transition"] * len(path)

    second, _ = service.create(event_in(), actor="hotline")
    with pytest.raises(TransitionError, match="status 10 cannot move to 40; allowed next statuses: 20, 60"):
        service.transition(second.id, 40, "x")
    with pytest.raises(TaxonomyError, match="close_reason.*allowed: rejected, duplicate"):
        service.transition(second.id, 60, "x", close_reason="resolved")
    voided = service.transition(second.id, 60, "intake", comment="prank call", close_reason="false_alarm")
    assert (voided.status, voided.close_reason) == (60, "false_alarm")
    with pytest.raises(EventNotFound):
        service.transition("nope", 20, "x")


def test_concurrent_transitions_never_both_win(service: EventService):
    out, _ = service.create(event_in(), actor="a")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def step(to: int) -> None:
        barrier.wait()
        try:
            service.transition(out.id, to, "clerk")
            outcomes.append(f"ok {to}")
        except TransitionError:
            outcomes.append("refused")

    # six clerks file the same case at once: one wins, the rest find it filed already (20 -> 20 is no step)
    threads = [threading.Thread(target=step, args=(20,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok 20"] + ["refused"] * 5
    final = service.get(out.id)
    assert len(final.process) == 2 and final.process[1].to_status == final.status


def _seed(service: EventService) -> dict[str, str]:
    ids = {}
    specs = {
        "a": dict(region_code="150102", category_code="0401", level=1, source="fire_119", occurred_at=at(0)),
        "b": dict(
            region_code="150102001",
            category_code="0402",
            level=2,
            source="ai_video",
            occurred_at=at(1),
            camera_id="gate",
        ),
        "c": dict(
            region_code="150103", category_code="1101", level=3, source="ai_video", occurred_at=at(2), camera_id="bare"
        ),
        "d": dict(region_code="150172", category_code="1001", level=4, source="grid_worker", occurred_at=at(3)),
        "e": dict(region_code=None, category_code="0101", level=5, source="citizen_app", occurred_at=at(3)),
        "f": dict(region_code="150102002003", category_code="0401", level=1, source="hotline_12345", occurred_at=at(3)),
    }
    for name, spec in specs.items():
        ids[name] = service.create(event_in(title=name, **spec), actor="seed")[0].id
    return ids


def _titles(service: EventService, **flt) -> list[str]:
    return [e.title for e in service.list(EventFilter(**flt), limit=100).items]


def test_list_filters(service: EventService):
    ids = _seed(service)
    service.transition(ids["a"], 20, "x")
    assert _titles(service)[-3:] == ["c", "b", "a"]  # newest first
    assert sorted(_titles(service, region=["150102"])) == ["a", "b", "f"]  # a district includes its towns
    assert sorted(_titles(service, region=["150100"])) == ["a", "b", "c", "d", "f"]  # the city, all of them
    assert sorted(_titles(service, region=["150102002", "150172"])) == ["d", "f"]
    assert sorted(_titles(service, category=["04"])) == ["a", "b", "f"]
    assert sorted(_titles(service, category=["0402", "11"])) == ["b", "c"]
    assert sorted(_titles(service, level=[1, 4])) == ["a", "d", "f"]
    assert sorted(_titles(service, source=["ai_video"])) == ["b", "c"]
    assert _titles(service, status=[20]) == ["a"]
    assert sorted(_titles(service, camera_id=["gate", "bare"])) == ["b", "c"]
    assert sorted(_titles(service, since=at(1), until=at(3))) == ["b", "c"]
    assert _titles(service, source=["ai_video"], region=["150102"]) == ["b"]
    with pytest.raises(TaxonomyError, match="category: unknown category '99'"):
        service.list(EventFilter(category=["99"]))
    with pytest.raises(TaxonomyError, match="region"):
        service.list(EventFilter(region=["990100"]))


def test_cursor_pagination_visits_each_event_once(service: EventService):
    made = [service.create(event_in(title=str(i), occurred_at=at(i // 3)), actor="s")[0] for i in range(11)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = service.list(EventFilter(), cursor=cursor, limit=4)
        seen += [e.id for e in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = [e.id for e in sorted(made, key=lambda e: (e.occurred_at, e.id), reverse=True)]
    assert seen == expected and pages == 3
    with pytest.raises(TaxonomyError, match="cursor"):
        service.list(EventFilter(), cursor="garbage!")
    with pytest.raises(TaxonomyError, match="limit"):
        service.list(EventFilter(), limit=0)


def test_update_incident_and_snapshot(service: EventService):
    out, _ = service.create(
        event_in(source="ai_video", camera_id="gate", evidence={"model": "fire", "count": 1}),
        actor="analytics",
        incident_key="gate/fire/1",
    )
    assert not out.has_snapshot
    updated = service.update_incident(out.id, Evidence(count=3, last_seen_at=at(5)), snapshot_jpeg=JPEG)
    assert updated.evidence.model == "fire" and updated.evidence.count == 3 and updated.evidence.last_seen_at == at(5)
    assert updated.has_snapshot and service.snapshot(out.id) == JPEG
    assert updated.status == 10 and updated.updated_at >= out.updated_at
    assert service.find_incident("gate/fire/1") == updated
    assert service.find_incident("none") is None
    with pytest.raises(EventNotFound):
        service.update_incident("nope", Evidence(count=1))


def test_changes_after_follows_the_outbox_with_filters(service: EventService):
    ids = _seed(service)
    service.transition(ids["c"], 20, "x")
    changes = service.changes_after(0)
    assert [c.seq for c in changes] == list(range(1, 8))
    assert changes[-1].kind == "transition" and changes[-1].event.status == 20
    mine = service.changes_after(0, EventFilter(source=["ai_video"]))
    assert [(c.event.title, c.kind) for c in mine] == [("b", "created"), ("c", "created"), ("c", "transition")]
    assert [c.seq for c in service.changes_after(6)] == [7]
    assert service.last_seq() == 7
    assert len(service.changes_after(0, limit=2)) == 2


def _paths(service: EventService) -> dict[int, list[int]]:
    """The shortest way from the initial status to each status, read from the data."""
    tax = service.taxonomy
    paths = {tax.initial_status: []}
    queue = [tax.initial_status]
    while queue:
        here = queue.pop(0)
        for nxt in tax.transitions[here]:
            if nxt not in paths:
                paths[nxt] = [*paths[here], nxt]
                queue.append(nxt)
    return paths


def test_every_status_pair_through_the_store(service: EventService):
    tax = service.taxonomy
    paths = _paths(service)
    assert set(paths) == {s.code for s in tax.statuses}  # every status is reachable
    for a in paths:
        for b in (s.code for s in tax.statuses):
            out, _ = service.create(event_in(title=f"{a}->{b}"), actor="t")
            for step in paths[a]:
                out = service.transition(out.id, step, "t")
            assert out.status == a
            if tax.can_transition(a, b):
                moved = service.transition(out.id, b, "t", comment="step")
                assert moved.status == b and moved.process[-1].from_status == a
                assert len(moved.process) == len(out.process) + 1
            else:
                with pytest.raises(TransitionError):
                    service.transition(out.id, b, "t")
                after = service.get(out.id)
                assert after.status == a and after.process == out.process  # nothing written
