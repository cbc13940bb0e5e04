"""Schema migrations (Alembic), run by the hub itself at start-up (`upgrade`): an operator
never runs a separate migration step, and every replica starts on the same schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

HERE = Path(__file__).parent

# Any constant: names the PostgreSQL lock that keeps replicas starting together from
# running the same migration twice.
_MIGRATION_LOCK = 0x76686D6967726174  # "vhmigrat"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the database to `revision`. A database made before migrations existed (its
    tables made by create_all) is upgraded in place: the first revision only creates what
    is missing."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
