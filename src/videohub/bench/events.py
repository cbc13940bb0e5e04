"""Events benchmark: ingest rate through the API, and list/filter latency with 100k and 1M
stored events, on a SQLite file and on PostgreSQL.

For each backend a real hub (`videohub serve` in a child process, see events_hub.py) runs
on a new store that its own migrations made:

1. Ingest, empty store: a few client threads POST generated events for a fixed time, one
   per request to /api/v1/events (each with an Idempotency-Key, as a retrying system
   sends them) and then 100 per request to /api/v1/events/batch. Reported: events/s and
   the p50/p99 request latency.
2. The store is filled up to each size (bulk insert outside the API, see events_data.py:
   regions over the districts and towns, categories, levels, sources, statuses, cameras
   and times over 90 days), the indexes re-created as the migrations made them, ANALYZE.
3. Each list query (newest page, time range, district, town, category, level, status,
   camera, a combined filter, deep pages by cursor) is requested over and over by one
   client, cycling through a few values of its parameter; reported: p50/p99 latency and
   the store's query plan.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy
from sqlalchemy import Engine, func, select

from videohub.bench.common import (
    CpuSample,
    cpu_between,
    finish_machine_info,
    fmt,
    machine_info,
    measure_and_report,
    parse_int_list,
    script_main,
    summarize_ms,
)
from videohub.bench.events_data import Distributions, api_body, count_events, fill, generate
from videohub.bench.events_hub import HubProcess, pg_admin_url, pg_database, pg_unreachable, pg_version
from videohub.db import init_db, make_engine
from videohub.events.models import EventRow
from videohub.events.query import after_cursor, encode_cursor, filter_clauses, newest_first
from videohub.events.schema import EventFilter
from videohub.taxonomy import Taxonomy, load_taxonomy, region_prefix

DEFAULT_OUT = Path("benchmarks/results/events.json")
BACKENDS = ("sqlite", "postgresql")
REGISTERED_CAMERAS = 50  # cameras the hub knows: ingested video events name these
PAGE = 50

Log = Callable[[str], None]


@dataclass(frozen=True)
class Params:
    sizes: tuple[int, ...] = (100_000, 1_000_000)
    backends: tuple[str, ...] = BACKENDS
    clients: int = 4  # concurrent client threads for ingest
    ingest_seconds: float = 8.0  # per mode
    batch_size: int = 100
    query_requests: int = 40  # per query and size, at most ...
    query_seconds: float = 5.0  # ... or this long, whichever ends first (at least 5 requests)
    seed: int = 20261201
    quick: bool = False

    @classmethod
    def quick_params(cls) -> Params:
        return cls(sizes=(2000,), ingest_seconds=0.6, batch_size=20, query_requests=5, query_seconds=1.0, quick=True)

    def validate(self) -> None:
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError("--sizes: expected positive event counts")
        unknown = [b for b in self.backends if b not in BACKENDS]
        if unknown or not self.backends:
            raise ValueError(f"--backends {','.join(unknown)}: expected a comma list of {', '.join(BACKENDS)}")
        if self.clients < 1 or not 1 <= self.batch_size <= 1000:
            raise ValueError("--clients must be at least 1 and --batch-size 1-1000")
        if self.ingest_seconds <= 0 or self.query_seconds <= 0 or self.query_requests < 1:
            raise ValueError("seconds and requests must be positive")


# --------------------------------------------------------------------------- ingest


@dataclass
class _Calls:
    latencies: list[float] = field(default_factory=list)
    events: int = 0
    errors: int = 0
    error_sample: str | None = None


def _hammer(
    base: str,
    clients: int,
    seconds: float,
    hub_pid: int,
    call: Callable[[httpx.Client, int, int], tuple[bool, int, str]],
) -> dict[str, Any]:
    """`clients` threads call `call(client, thread, i)` (-> ok, events stored, error text)
    until `seconds` have passed; two untimed calls each warm the connection first."""
    results = [_Calls() for _ in range(clients)]
    deadline = [0.0]
    before: list[CpuSample] = []

    def go() -> None:  # runs once all are warm, before any is released
        before.append(CpuSample.take([hub_pid]))
        deadline[0] = time.perf_counter() + seconds

    start = threading.Barrier(clients + 1, action=go)

    def worker(t: int) -> None:
        calls = results[t]
        with httpx.Client(base_url=base, timeout=60) as client:
            i = 0
            for _ in range(2):
                call(client, t, i)
                i += 1
            start.wait()
            while time.perf_counter() < deadline[0]:
                t0 = time.perf_counter()
                ok, events, error = call(client, t, i)
                calls.latencies.append(time.perf_counter() - t0)
                i += 1
                if ok:
                    calls.events += events
                else:
                    calls.errors += 1
                    calls.error_sample = calls.error_sample or error

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(clients)]
    for th in threads:
        th.start()
    start.wait()
    for th in threads:
        th.join()
    cpu = cpu_between(before[0], CpuSample.take([hub_pid]))
    wall = cpu["wall_s"]
    latencies = [x for c in results for x in c.latencies]
    events = sum(c.events for c in results)
    return {
        "clients": clients,
        "wall_s": round(wall, 2),
        "requests": len(latencies),
        "events": events,
        "errors": sum(c.errors for c in results),
        "error_sample": next((c.error_sample for c in results if c.error_sample), None),
        "events_per_s": round(events / wall, 1),
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_ms": summarize_ms(latencies),
        "hub_cores": _round(cpu["watched_cores"].get(str(hub_pid))),
        "other_cores": _round(cpu["other_load_cores"]),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def measure_ingest(base: str, hub_pid: int, bodies: list[bytes], params: Params, run_id: str) -> dict[str, Any]:
    """Single and batched POSTs; every request carries fresh idempotency keys."""
    headers = {"content-type": "application/json"}

    def single(client: httpx.Client, t: int, i: int) -> tuple[bool, int, str]:
        r = client.post(
            "/api/v1/events",
            content=bodies[(t * 7919 + i) % len(bodies)],
            headers={**headers, "Idempotency-Key": f"{run_id}-s-{t}-{i}"},
        )
        return r.status_code == 201, 1, f"{r.status_code} {r.text[:200]}"

    n = params.batch_size

    def batch(client: httpx.Client, t: int, i: int) -> tuple[bool, int, str]:
        items = b",".join(
            b'{"idempotency_key":"%s-b-%d-%d-%d","event":%s}'
            % (run_id.encode(), t, i, j, bodies[(t * 7919 + i * n + j) % len(bodies)])
            for j in range(n)
        )
        r = client.post("/api/v1/events/batch", content=b'{"items":[' + items + b"]}", headers=headers)
        if r.status_code != 200:
            return False, 0, f"{r.status_code} {r.text[:200]}"
        out = r.json()
        return out["failed"] == 0, int(out["created"]), json.dumps(out["results"][:1])[:200]

    return {
        "single": {"path": "POST /api/v1/events", "events_per_request": 1}
        | _hammer(base, params.clients, params.ingest_seconds, hub_pid, single),
        "batch": {"path": "POST /api/v1/events/batch", "events_per_request": n}
        | _hammer(base, params.clients, params.ingest_seconds, hub_pid, batch),
    }


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    name: str
    what: str
    variants: list[dict[str, str]]  # query parameters; requests cycle through them


def _iso(t: datetime) -> str:
    return t.isoformat()


def _deep_cursors(engine: Engine, stored: int, region: str | None = None, k: int = 3) -> list[str]:
    """Cursors of rows about half way down the list (of a district's list, with `region`),
    as a client paging that far would hold."""
    query = select(EventRow.occurred_at, EventRow.id)
    cursors = []
    with engine.connect() as conn:
        if region is not None:
            prefix = region_prefix(region)
            inside = EventRow.region_code.between(prefix, prefix + "9" * 12)
            query = query.where(inside)
            stored = int(conn.scalar(select(func.count()).select_from(EventRow).where(inside)) or 0)
        for j in range(k):
            row = conn.execute(query.order_by(*newest_first()).offset(stored // 2 + j * 101).limit(1)).first()
            if row is not None:
                cursors.append(encode_cursor(row[0], row[1]))
    return cursors


def queries(engine: Engine, stored: int, end: datetime) -> list[Query]:
    days = [end - timedelta(days=d) for d in (5, 20, 35, 50, 65, 80)]
    cameras = [f"cam-{n:04d}" for n in (7, 123, 456, 789, 1011, 1500, 1999, 42)]
    return [
        Query("newest", "no filter, newest page", [{}]),
        Query(
            "time_range",
            "one day (since/until)",
            [{"since": _iso(d), "until": _iso(d + timedelta(days=1))} for d in days],
        ),
        Query(
            "district", "region prefix: a district", [{"region": r} for r in ("150102", "150103", "150104", "150105")]
        ),
        Query("town", "region prefix: a town", [{"region": r} for r in ("150105003", "150102007", "150104011")]),
        Query("category", "one minor category", [{"category": c} for c in ("0401", "1001", "1101", "0101")]),
        Query("level", "level 1 or 2 (rare)", [{"level": v} for v in ("1", "2")]),
        Query("status", "one open status", [{"status": v} for v in ("10", "30", "40")]),
        Query("camera", "one camera", [{"camera": c} for c in cameras]),
        Query(
            "combined",
            "district + major + levels + 30 days",
            [
                {"region": r, "category": "10", "level": "3,4", "since": _iso(end - timedelta(days=30))}
                for r in ("150105", "150102")
            ],
        ),
        Query("deep_page", "cursor half way down", [{"cursor": c} for c in _deep_cursors(engine, stored)]),
        Query(
            "deep_district",
            "district, cursor half way down",
            [{"region": "150105", "cursor": c} for c in _deep_cursors(engine, stored, "150105")],
        ),
    ]


def measure_query(client: httpx.Client, q: Query, params: Params) -> dict[str, Any]:
    latencies: list[float] = []
    items: list[int] = []
    errors: list[str] = []
    for v in q.variants[:2]:  # untimed: the first requests of a query warm caches and plans
        client.get("/api/v1/events", params={**v, "limit": PAGE})
    deadline = time.perf_counter() + params.query_seconds
    i = 0
    while i < params.query_requests and (i < 5 or time.perf_counter() < deadline):
        v = q.variants[i % len(q.variants)]
        t0 = time.perf_counter()
        r = client.get("/api/v1/events", params={**v, "limit": PAGE})
        latencies.append(time.perf_counter() - t0)
        if r.status_code == 200:
            items.append(len(r.json()["items"]))
        else:
            errors.append(f"{r.status_code} {r.text[:200]}")
        i += 1
    return {
        "what": q.what,
        "params": q.variants[0],
        "variants": len(q.variants),
        "latency_ms": summarize_ms(latencies),
        "items_mean": round(float(np.mean(items)), 1) if items else None,
        "errors": len(errors),
        "error_sample": errors[0] if errors else None,
    }


def query_plan(engine: Engine, taxonomy: Taxonomy, variant: dict[str, str]) -> str:
    """The store's plan for the list query the service runs for these parameters."""
    many = {k: [x for x in v.split(",") if x] for k, v in variant.items() if k not in ("since", "until", "cursor")}
    flt = EventFilter(
        since=datetime.fromisoformat(variant["since"]) if "since" in variant else None,
        until=datetime.fromisoformat(variant["until"]) if "until" in variant else None,
        region=many.get("region", []),
        category=many.get("category", []),
        level=[int(x) for x in many.get("level", [])],
        status=[int(x) for x in many.get("status", [])],
        camera_id=many.get("camera", []),
    )
    stmt = select(EventRow).where(*filter_clauses(flt, taxonomy))
    if "cursor" in variant:
        stmt = stmt.where(after_cursor(variant["cursor"]))
    compiled = (
        stmt.order_by(*newest_first()).limit(PAGE + 1).compile(engine, compile_kwargs={"render_postcompile": True})
    )
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
            return " | ".join(str(r[0]).strip() for r in rows)
        positional = tuple(compiled.params[name] for name in compiled.positiontup or [])
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), positional).all()
        return " | ".join(str(r[-1]) for r in rows)


def measure_queries(
    base: str, engine: Engine, taxonomy: Taxonomy, stored: int, end: datetime, params: Params
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        for q in queries(engine, stored, end):
            if not q.variants:
                continue
            result = measure_query(client, q, params)
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                result["plan"] = query_plan(engine, taxonomy, q.variants[0])
            out[q.name] = result
    return out


# --------------------------------------------------------------------------- one backend


def measure_backend(
    backend: str, url: str, params: Params, taxonomy: Taxonomy, end: datetime, workdir: Path, say: Log
) -> dict[str, Any]:
    engine = make_engine(url)
    init_db(engine)  # the migrations, as the hub itself would run them
    hub = HubProcess(url, workdir / backend, REGISTERED_CAMERAS)
    result: dict[str, Any] = {"status": "ok", "fills": [], "queries": {}}
    try:
        rows = generate(
            Distributions.from_taxonomy(taxonomy), np.random.default_rng(params.seed), 2000, end, REGISTERED_CAMERAS
        )
        bodies = [json.dumps(api_body(r)).encode() for r in rows]
        say(f"{backend}: ingest, {params.clients} clients x {params.ingest_seconds:g} s per mode")
        result["ingest"] = measure_ingest(hub.base, hub.pid, bodies, params, f"{backend}{int(time.time())}")
        stored = count_events(engine)
        result["ingested_events"] = stored
        for size in sorted(params.sizes):
            add = size - stored
            if add > 0:
                say(f"{backend}: filling {add} events up to {size}")
                done = fill(engine, taxonomy, add, end, params.seed + size)
                result["fills"].append({"size": size, **done.to_json()})
            stored = count_events(engine)
            say(f"{backend}: {stored} events stored, querying")
            result["queries"][str(size)] = {"stored": stored} | measure_queries(
                hub.base, engine, taxonomy, stored, end, params
            )
    finally:
        hub.stop()
        engine.dispose()
    return result


def measure(params: Params, log: Log | None = None) -> dict[str, Any]:
    params.validate()
    say: Log = log or (lambda _msg: None)
    started = time.perf_counter()
    machine = machine_info()
    machine["sqlite"] = sqlite3.sqlite_version
    machine["sqlalchemy"] = sqlalchemy.__version__
    taxonomy = load_taxonomy()
    # Whole seconds: the times of generated events do not depend on when in a second we start.
    end = datetime.now(UTC).replace(microsecond=0)
    admin = pg_admin_url()
    backends: dict[str, Any] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="videohub-bench-events-") as tmp:
        work = Path(tmp)
        for backend in params.backends:
            if backend == "sqlite":
                backends[backend] = measure_backend(
                    backend, f"sqlite:///{work}/events.db", params, taxonomy, end, work, say
                )
                continue
            reason = pg_unreachable(admin)
            if reason is not None:
                backends[backend] = {"status": "skipped", "reason": f"PostgreSQL not reachable: {reason}"}
                notes.append(f"postgresql skipped: {reason}")
                continue
            machine["postgresql"] = pg_version(admin)
            with pg_database(admin) as url:
                backends[backend] = measure_backend(backend, url, params, taxonomy, end, work, say)
    finish_machine_info(machine)
    if any(b.get("fills") for b in backends.values()):
        notes.append(
            "stores are filled outside the API (bulk insert, then indexes re-created as the migrations made "
            "them and ANALYZE); each filled event has its 'created' process record, no outbox row"
        )
    return {
        "benchmark": "events",
        "machine": machine,
        "params": asdict(params) | {"page": PAGE, "registered_cameras": REGISTERED_CAMERAS},
        "end": end.isoformat(),
        "backends": backends,
        "notes": notes,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------- output


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def format_table(result: dict[str, Any]) -> str:
    m, p = result["machine"], result["params"]
    load = m.get("loadavg_at_start") or [None]
    lines = [
        f"videohub events benchmark - {m['cpu_model']}, {m['usable_cores']} cores, "
        f"load {fmt(load[0], '.2f')} at start, {fmt((m.get('loadavg_at_end') or [None])[0], '.2f')} at end",
        f"SQLite {m.get('sqlite')}, PostgreSQL {m.get('postgresql', '-')}, SQLAlchemy {m.get('sqlalchemy')}",
        "",
        f"Ingest through the API into an empty store ({p['clients']} client threads, {p['ingest_seconds']:g} s each):",
        f"{'backend':<11} {'mode':<18} {'events/s':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        f" {'hub cores':>9}",
    ]
    ok = {name: b for name, b in result["backends"].items() if b.get("status") == "ok"}
    for name, b in ok.items():
        for mode, r in b["ingest"].items():
            label = "single" if mode == "single" else f"batch of {r['events_per_request']}"
            lat = r["latency_ms"]
            lines.append(
                f"{name:<11} {label:<18} {r['events_per_s']:>9.0f} {r['requests_per_s']:>7.0f} "
                f"{fmt(lat['p50']):>8} {fmt(lat['p99']):>8} {r['errors']:>6} {fmt(r['hub_cores'], '.2f'):>9}"
            )
    fills = [(name, f) for name, b in ok.items() for f in b["fills"]]
    if fills:
        lines += ["", "Filling the store (bulk, outside the API):"]
        for name, f in fills:
            lines.append(
                f"{name:<11} to {_size(f['size']):>5}: {f['inserted']:>8} rows in {f['total_s']:>6.1f} s "
                f"(rows {f['rows_s']:.1f} s, indexes {f['index_s']:.1f} s, analyze {f['analyze_s']:.1f} s)"
            )
        for name in dict.fromkeys(name for name, _ in fills):
            lines.append(f"{name:<11} method: {next(f['method'] for n, f in fills if n == name)}")
    columns = [(name, size) for name, b in ok.items() for size in b["queries"]]
    if columns:
        lines += [
            "",
            f"GET /api/v1/events?limit={PAGE}: latency p50 / p99 in ms "
            f"(one client, up to {p['query_requests']} requests per query and size):",
        ]
        head = f"{'query':<14} {'what':<36}" + "".join(f" {f'{n} {_size(int(s))}':>17}" for n, s in columns)
        lines.append(head)
        names = list(next(iter(ok.values()))["queries"][columns[0][1]])
        for q in (q for q in names if q != "stored"):
            cells, what = [], ""
            for n, s in columns:
                r = ok[n]["queries"][s].get(q)
                if r is None:
                    cells.append(f"{'-':>17}")
                    continue
                what = r["what"]
                lat = r["latency_ms"]
                cell = f"{fmt(lat['p50'])} / {fmt(lat['p99'])}" + ("!" if r["errors"] else "")
                cells.append(f" {cell:>17}")
            lines.append(f"{q:<14} {what:<36}" + "".join(cells))
    for name, b in result["backends"].items():
        if b.get("status") != "ok":
            lines.append(f"{name}: {b.get('status')} - {b.get('reason')}")
    noisy = [r["other_cores"] for b in ok.values() for r in b["ingest"].values() if r.get("other_cores") is not None]
    if noisy and max(noisy) > 0.5:
        lines.append(
            f"NOTE: processes besides the hub and this client used up to {max(noisy):.2f} cores during ingest "
            "(the PostgreSQL server counts here too)."
        )
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Params()
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds (2k events)")
    parser.add_argument("--sizes", help="comma list of stored-event counts to query at (default 100000,1000000)")
    parser.add_argument(
        "--backends",
        help="comma list of sqlite, postgresql (default both; --quick: postgresql only when reachable)",
    )
    parser.add_argument("--clients", type=int, help=f"ingest client threads (default {d.clients})")
    parser.add_argument("--ingest-seconds", type=float, help=f"seconds per ingest mode (default {d.ingest_seconds:g})")
    parser.add_argument("--batch-size", type=int, help=f"events per batch request (default {d.batch_size})")
    parser.add_argument("--query-requests", type=int, help=f"requests per query (default {d.query_requests})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")


def params_from_args(args: argparse.Namespace) -> Params:
    params = Params.quick_params() if args.quick else Params()
    overrides: dict[str, Any] = {
        k: getattr(args, k, None) for k in ("clients", "ingest_seconds", "batch_size", "query_requests")
    }
    if args.sizes:
        overrides["sizes"] = parse_int_list(args.sizes, "--sizes")
    if args.backends:
        overrides["backends"] = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    elif args.quick and pg_unreachable(pg_admin_url()) is not None:
        overrides["backends"] = ("sqlite",)
    return replace(params, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    return measure_and_report(args, params_from_args, measure, format_table)


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
