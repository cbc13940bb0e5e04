"""Database engine and sessions: a SQLite file by default, any SQLAlchemy URL (PostgreSQL
at city scale) by config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    pass


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets API readers proceed while a writer commits; NORMAL sync is safe under WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Creates the engine (and a SQLite file's folder); raises ValueError on a bad URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a useful message
        raise ValueError(f"database.url is not a valid SQLAlchemy URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: rows hold stream URLs with credentials; errors must not quote them.
        engine = create_engine(parsed, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    return engine


def init_db(engine: Engine) -> sessionmaker:
    """Creates missing tables and returns a session factory."""
    import videohub.registry.models  # noqa: F401  (registers the tables on Base.metadata)

    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
