"""The events benchmark's quick mode end to end: a complete, self-consistent result (SQLite,
and PostgreSQL when a server is reachable). Speed itself is never asserted here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import run_quick
from videohub.bench import events

QUERIES = {
    "newest",
    "time_range",
    "district",
    "town",
    "category",
    "level",
    "status",
    "camera",
    "combined",
    "deep_page",
    "deep_district",
}


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rc, data = run_quick(events, tmp_path_factory.mktemp("events") / "events.json")
    assert rc == 0 and data is not None
    return data


def test_records_machine_and_parameters(result: dict[str, Any]) -> None:
    assert result["benchmark"] == "events" and result["params"]["quick"] is True
    assert result["machine"]["usable_cores"] >= 1 and result["machine"]["sqlite"]
    assert result["params"]["sizes"] == [2000]
    assert result["backends"]["sqlite"]["status"] == "ok"


def test_ingest_figures_are_consistent(result: dict[str, Any]) -> None:
    batch_size = result["params"]["batch_size"]
    for name, backend in result["backends"].items():
        if backend["status"] != "ok":
            continue
        single, batch = backend["ingest"]["single"], backend["ingest"]["batch"]
        for mode in (single, batch):
            assert mode["errors"] == 0, (name, mode["error_sample"])
            assert mode["requests"] >= 1 and mode["latency_ms"]["n"] == mode["requests"]
            assert mode["latency_ms"]["p50"] <= mode["latency_ms"]["p99"]
            assert mode["events_per_s"] > 0
        assert single["events"] == single["requests"]
        assert batch["events"] == batch["requests"] * batch_size
        # every event the clients were told was stored is in the store (plus 2 warm-up
        # requests per client and mode)
        warm = 2 * single["clients"] * (1 + batch_size)
        assert backend["ingested_events"] == single["events"] + batch["events"] + warm


def test_queries_ran_at_the_size_asked(result: dict[str, Any]) -> None:
    for name, backend in result["backends"].items():
        if backend["status"] != "ok":
            continue
        fills = backend["fills"]
        assert [f["size"] for f in fills] == [2000] or backend["ingested_events"] >= 2000
        got = backend["queries"]["2000"]
        assert got["stored"] == max(2000, backend["ingested_events"])
        assert set(got) - {"stored"} == QUERIES, name
        for q, r in got.items():
            if q == "stored":
                continue
            assert r["errors"] == 0, (name, q, r["error_sample"])
            assert r["latency_ms"]["n"] >= 5 and r["plan"], (name, q)
            assert 0 <= r["items_mean"] <= 50
        assert got["newest"]["items_mean"] == 50 and got["deep_page"]["items_mean"] == 50


def test_table_lists_every_backend_and_query(result: dict[str, Any]) -> None:
    table = events.format_table(result)
    for q in QUERIES:
        assert any(line.split()[:1] == [q] for line in table.splitlines()), q
    for name, backend in result["backends"].items():
        if backend["status"] == "ok":
            assert f"{name} 2k" in table
            assert any(line.split()[:2] == [name, "single"] for line in table.splitlines())


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    rc, data = run_quick(events, tmp_path / "x.json", "--backends", "oracle")
    assert rc == 2 and data is None
