"""Event store fixtures: every store test runs on a SQLite file and on a real PostgreSQL
server (a database of its own per test session, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from videohub.db import init_db, make_engine
from videohub.events.schema import EventIn
from videohub.events.service import CameraFacts, EventService
from videohub.taxonomy import load_taxonomy

PG_ADMIN = os.environ.get("VIDEOHUB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _admin(sql: str) -> None:
    import psycopg

    conninfo = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_database() -> tuple[str, Callable[[], None]]:
    """A new, empty PostgreSQL database: (URL, drop). Skips (fails under CI) without a server."""
    name = f"videohub_test_{uuid.uuid4().hex[:8]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # psycopg.OperationalError and friends: no server to talk to
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI at {PG_ADMIN}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({str(exc).splitlines()[0]})")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    return url, lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url, drop = pg_database()
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    yield url
    drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/events.db")
        yield eng
        eng.dispose()
        return
    eng = make_engine(request.getfixturevalue("pg_url"))
    yield eng
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE events, event_snapshots, event_process, event_changes RESTART IDENTITY CASCADE"))
    eng.dispose()


CAMERAS = {
    "gate": CameraFacts(device_code="15010200001320000001", region_code="150102001", lon=111.7, lat=40.8),
    "bare": CameraFacts(device_code=None, region_code=None, lon=None, lat=None),
    "beijing": CameraFacts(device_code=None, region_code="110101", lon=None, lat=None),
}


@pytest.fixture
def service(engine: Engine) -> EventService:
    return EventService(init_db(engine), load_taxonomy(), cameras=CAMERAS.get)


def event_in(**changes) -> EventIn:
    data = {
        "title": "Fire near the gate",
        "category_code": "0401",
        "level": 2,
        "source": "hotline_12345",
        "region_code": "150102",
        "occurred_at": T0,
    }
    data.update(changes)
    return EventIn.model_validate(data)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
