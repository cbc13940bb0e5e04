"""Alembic migrations: an empty database and one made by the old create_all both end at
head, with exactly the schema the models describe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from tests.events.conftest import pg_database
from videohub.db import Base, init_db, make_engine
from videohub.registry.models import CameraRow

HEAD = "0004_events_district_index"

# SQLite cannot reflect expression indexes, so Alembic leaves ix_events_district_time out of
# the comparison there (and says so); `_indexes` checks that it exists instead.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/m.db")
        yield engine
        engine.dispose()
        return
    url, drop = pg_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def _version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _schema_diff(engine: Engine) -> list:
    import videohub.events.models  # noqa: F401  (all tables on Base.metadata)
    import videohub.events.subscription_models  # noqa: F401

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    return [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")]


def _indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'events'"))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"))
        return {str(r[0]) for r in rows}


def test_upgrade_on_an_empty_database(empty_engine):
    init_db(empty_engine)
    assert _version(empty_engine) == HEAD
    assert {"ix_events_time", "ix_events_district_time"} <= _indexes(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert {"cameras", "events", "event_snapshots", "event_process", "event_changes"} <= tables
    assert {"webhook_subscriptions", "webhook_deliveries", "outbox_cursors"} <= tables
    assert _schema_diff(empty_engine) == []
    init_db(empty_engine)  # a second start changes nothing
    assert _version(empty_engine) == HEAD


def test_upgrade_of_a_database_made_by_create_all(empty_engine):
    # What hubs before migrations did: create_all of the registry, no alembic_version.
    Base.metadata.create_all(empty_engine, tables=[CameraRow.__table__])
    now = datetime.now(UTC)
    with empty_engine.begin() as conn:
        conn.execute(
            CameraRow.__table__.insert().values(
                id="old", spec={"id": "old"}, enabled=True, created_at=now, updated_at=now
            )
        )
    init_db(empty_engine)
    assert _version(empty_engine) == HEAD
    with empty_engine.connect() as conn:
        assert conn.execute(select(CameraRow.__table__.c.id)).scalars().all() == ["old"]
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0
    assert _schema_diff(empty_engine) == []


def test_a_database_of_a_newer_hub_is_refused_at_start(tmp_path):
    from videohub.config import parse_config
    from videohub.runtime import HubRuntime, StartupError

    url = f"sqlite:///{tmp_path}/hub.db"
    engine = make_engine(url)
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    config = parse_config({"database": {"url": url}, "models_dir": None})
    with pytest.raises(StartupError, match="database.url .*0099_future"):
        HubRuntime(config)
