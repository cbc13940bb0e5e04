"""Synthetic city events for the events benchmark, and filling a store with them fast.

The distributions follow what a city platform sees: most events in the four urban
districts (Saihan and Xincheng busiest), spread over towns and communities; a few
categories (parking, garbage, street vending) dominate; few red or orange levels; video
AI and the 12345 hotline as the main sources; old events closed or archived, recent ones
still open; times over 90 days with a daytime peak.

Filling bypasses the API on purpose (a million POSTs would take longer than the whole
benchmark): rows go in with SQLAlchemy Core executemany on SQLite and COPY on PostgreSQL,
with the secondary indexes dropped during the fill and re-created afterwards from the
very DDL the migrations left in the database, then ANALYZE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, text

from videohub.events.models import EventProcessRow, EventRow
from videohub.taxonomy import Taxonomy

DAYS = 90
CAMERAS = 2000

# Share of events per division (GB/T 2260 code): the urban districts and the development
# zone carry most of the city's cases.
REGION_WEIGHTS = {
    "150102": 0.18,  # Xincheng
    "150103": 0.13,  # Huimin
    "150104": 0.12,  # Yuquan
    "150105": 0.24,  # Saihan
    "150121": 0.06,  # Tumed Left Banner
    "150122": 0.04,  # Togtoh
    "150123": 0.05,  # Horinger
    "150124": 0.02,  # Qingshuihe
    "150125": 0.02,  # Wuchuan
    "150172": 0.14,  # development zone
}
TOWNS_PER_DIVISION = 12
COMMUNITIES_PER_TOWN = 20
LEVEL_WEIGHTS = {1: 0.01, 2: 0.04, 3: 0.15, 4: 0.50, 5: 0.30}
# The rest of the 19 sources share what these leave.
SOURCE_WEIGHTS = {
    "ai_video": 0.40,
    "hotline_12345": 0.20,
    "grid_worker": 0.14,
    "inspector": 0.07,
    "video_patrol": 0.05,
    "citizen_app": 0.04,
}
VIDEO_SOURCES = ("ai_video", "video_patrol")
OPEN_STATUSES = (10, 20, 30, 40, 50)
DONE_STATUSES = (60, 70)


def camera_id(n: int) -> str:
    return f"cam-{n:04d}"


@dataclass
class Distributions:
    """The value pools and their probabilities, taken from the taxonomy in force."""

    regions: list[str]
    region_p: np.ndarray
    minors: list[tuple[str, str, str]]  # (major, minor, English name)
    minor_p: np.ndarray
    levels: list[int]
    level_p: np.ndarray
    sources: list[str]
    source_p: np.ndarray

    @classmethod
    def from_taxonomy(cls, tax: Taxonomy) -> Distributions:
        regions = list(REGION_WEIGHTS)
        minors = [(m.code, n.code, n.name_en) for m in tax.categories for n in m.minors]
        # Zipf-like: a handful of categories make most cases, as in every city's statistics.
        ranks = np.random.default_rng(7).permutation(len(minors)) + 1
        minor_w = 1.0 / ranks**1.1
        sources = [s.code for s in tax.sources]
        rest = (1.0 - sum(SOURCE_WEIGHTS.values())) / max(1, len(sources) - len(SOURCE_WEIGHTS))
        source_w = np.array([SOURCE_WEIGHTS.get(s, rest) for s in sources])
        return cls(
            regions=regions,
            region_p=_norm(np.array(list(REGION_WEIGHTS.values()))),
            minors=minors,
            minor_p=_norm(minor_w),
            levels=list(LEVEL_WEIGHTS),
            level_p=_norm(np.array(list(LEVEL_WEIGHTS.values()))),
            sources=sources,
            source_p=_norm(source_w),
        )


def _norm(w: np.ndarray) -> np.ndarray:
    return np.asarray(w / w.sum(), dtype=np.float64)


def generate(
    dist: Distributions,
    rng: np.random.Generator,
    n: int,
    end: datetime,
    cameras: int = CAMERAS,
    days: int = DAYS,
) -> list[dict[str, Any]]:
    """`n` event rows (column -> value of the `events` table), occurred within `days`
    before `end`; video events name one of `cameras` cameras (cam-0000 ...)."""
    region_i = rng.choice(len(dist.regions), n, p=dist.region_p)
    town = rng.integers(1, TOWNS_PER_DIVISION + 1, n)
    community = rng.integers(1, COMMUNITIES_PER_TOWN + 1, n)
    depth = rng.random(n)  # 15 % division only, 45 % town, 40 % community
    minor_i = rng.choice(len(dist.minors), n, p=dist.minor_p)
    level_i = rng.choice(len(dist.levels), n, p=dist.level_p)
    source_i = rng.choice(len(dist.sources), n, p=dist.source_p)
    cam = rng.integers(0, cameras, n)
    # Seconds before `end`: uniform days, hours peaking in the daytime (a mixture of two).
    day = rng.integers(0, days, n)
    hour = np.where(rng.random(n) < 0.7, rng.normal(14.0, 3.5, n), rng.uniform(0, 24, n)) % 24
    age_s = day * 86400.0 + hour * 3600.0
    ids = rng.bytes(16 * n).hex()
    status_u = rng.random(n)
    lon = 111.65 + rng.normal(0, 0.12, n)
    lat = 40.82 + rng.normal(0, 0.08, n)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        division = dist.regions[region_i[i]]
        if depth[i] < 0.15:
            region = division
        elif depth[i] < 0.60:
            region = f"{division}{town[i]:03d}"
        else:
            region = f"{division}{town[i]:03d}{community[i]:03d}"
        major, minor, name = dist.minors[minor_i[i]]
        source = dist.sources[source_i[i]]
        video = source in VIDEO_SOURCES
        occurred = end - timedelta(seconds=float(age_s[i]))
        age_days = age_s[i] / 86400.0
        # Recent events are still being handled; after about a week almost all are closed.
        p_done = min(0.97, age_days / 7.0)
        if status_u[i] < p_done:
            status = DONE_STATUSES[0] if status_u[i] < p_done * 0.4 else DONE_STATUSES[1]
        else:
            status = OPEN_STATUSES[int(status_u[i] * 997) % len(OPEN_STATUSES)]
        rows.append(
            {
                "id": ids[32 * i : 32 * i + 32],
                "title": f"{name} in {region}",
                "description": "",
                "major_code": major,
                "minor_code": minor,
                "level": dist.levels[level_i[i]],
                "source": source,
                "source_ref": None if video else f"T{int(age_s[i]):09d}",
                "status": status,
                "close_reason": "resolved" if status >= 60 else None,
                "region_code": region,
                "address": f"{town[i]} Street, block {community[i]}",
                "lon": round(float(lon[i]), 6),
                "lat": round(float(lat[i]), 6),
                "camera_id": camera_id(int(cam[i])) if video else None,
                "device_code": None,
                "occurred_at": occurred,
                "reported_at": occurred + timedelta(seconds=5),
                "updated_at": occurred + timedelta(seconds=60),
                "evidence": {"model": "yolov8n", "rule_id": f"r{minor}", "count": 1} if video else {},
                "has_snapshot": False,
                "idempotency_key": None,
                "request_hash": None,
                "incident_key": None,
            }
        )
    return rows


def api_body(row: dict[str, Any]) -> dict[str, Any]:
    """A generated row as another system would POST it (EventIn)."""
    body = {
        "title": row["title"],
        "category_code": row["minor_code"],
        "level": row["level"],
        "source": row["source"],
        "source_ref": row["source_ref"],
        "region_code": row["region_code"],
        "address": row["address"],
        "lon": row["lon"],
        "lat": row["lat"],
        "camera_id": row["camera_id"],
        "occurred_at": row["occurred_at"].isoformat(),
        "evidence": row["evidence"],
    }
    return {k: v for k, v in body.items() if v is not None}


def _chunks(dist: Distributions, seed: int, n: int, end: datetime, size: int) -> Iterator[list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    done = 0
    while done < n:
        k = min(size, n - done)
        yield generate(dist, rng, k, end)
        done += k


# --------------------------------------------------------------------------- filling


@dataclass
class FillResult:
    inserted: int
    rows_s: float  # generating and inserting rows
    index_s: float  # re-creating the secondary indexes
    analyze_s: float
    method: str

    def to_json(self) -> dict[str, Any]:
        total = self.rows_s + self.index_s + self.analyze_s
        return {
            "inserted": self.inserted,
            "rows_s": round(self.rows_s, 1),
            "index_s": round(self.index_s, 1),
            "analyze_s": round(self.analyze_s, 1),
            "total_s": round(total, 1),
            "rows_per_s": round(self.inserted / total) if total > 0 else None,
            "method": self.method,
        }


FILL_TABLES = ("events", "event_process")


def secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the non-unique indexes the migrations made on the
    filled tables, read back from the database itself."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(:t) AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            ),
            {"t": list(FILL_TABLES)},
        )
    else:
        rows = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('events', 'event_process') AND sql NOT LIKE 'CREATE UNIQUE%'"
            )
        )
    return [(str(name), str(sql)) for name, sql in rows]


def count_events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(EventRow)) or 0)


def fill(engine: Engine, taxonomy: Taxonomy, n: int, end: datetime, seed: int, chunk: int = 20000) -> FillResult:
    """Adds `n` generated events (and their 'created' process record) to the store."""
    dist = Distributions.from_taxonomy(taxonomy)
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        indexes = secondary_indexes(conn)
        # Dropped for the fill and re-created after: building an index once over sorted
        # data is several times faster than keeping eight of them up to date row by row.
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    t0 = time.perf_counter()
    if pg:
        _copy_pg(engine, _chunks(dist, seed, n, end, chunk))
        method = "PostgreSQL COPY (psycopg), secondary indexes dropped and re-created"
    else:
        _insert_sqlite(engine, _chunks(dist, seed, n, end, chunk))
        method = (
            "SQLAlchemy Core executemany, 20k rows per transaction, PRAGMA synchronous=OFF on the fill "
            "connection only, secondary indexes dropped and re-created"
        )
    t1 = time.perf_counter()
    with engine.begin() as conn:
        for _, ddl in indexes:
            conn.execute(text(ddl))
    t2 = time.perf_counter()
    analyze(engine)
    t3 = time.perf_counter()
    return FillResult(n, t1 - t0, t2 - t1, t3 - t2, method)


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        # VACUUM also sets the visibility map, as autovacuum would soon after a bulk load.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE events"))
            conn.execute(text("VACUUM ANALYZE event_process"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def _process_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": r["id"],
            "at": r["reported_at"],
            "actor": f"api:{r['source']}",
            "from_status": None,
            "to_status": 10,
            "comment": "created",
            "close_reason": None,
        }
        for r in rows
    ]


def _insert_sqlite(engine: Engine, chunks: Iterator[list[dict[str, Any]]]) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")  # this connection only; put back below
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        conn.commit()
        try:
            for rows in chunks:
                with conn.begin():
                    conn.execute(insert(EventRow), rows)
                    conn.execute(insert(EventProcessRow), _process_rows(rows))
        finally:
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.exec_driver_sql("PRAGMA cache_size=-2000")
            conn.commit()


EVENT_COLUMNS = [c.name for c in EventRow.__table__.columns]
PROCESS_COLUMNS = ["event_id", "at", "actor", "from_status", "to_status", "comment", "close_reason"]


def _copy_pg(engine: Engine, chunks: Iterator[list[dict[str, Any]]]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for rows in chunks:
            with cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([json.dumps(r[c]) if c == "evidence" else _pg_value(r[c]) for c in EVENT_COLUMNS])
            with cur.copy(f"COPY event_process ({', '.join(PROCESS_COLUMNS)}) FROM STDIN") as copy:
                for p in _process_rows(rows):
                    copy.write_row([_pg_value(p[c]) for c in PROCESS_COLUMNS])
            raw.commit()
    finally:
        raw.close()


def _pg_value(v: Any) -> Any:
    return v.astimezone(UTC) if isinstance(v, datetime) else v
