"""`OutboxCursors` on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import delete

from videohub.db import init_db
from videohub.events.cursors import OutboxCursors
from videohub.events.subscription_models import OutboxCursorRow


def test_a_replica_that_loses_the_race_to_create_a_cursor_takes_theirs_even_at_zero(engine, monkeypatch):
    """Two replicas start on an empty outbox: the first stores the cursor at 0. The second,
    whose insert then fails, read it back as `get(name) or start`, so 0 became its own later
    start and the changes in between were never its to publish."""
    sessions = init_db(engine)
    cursors = OutboxCursors(sessions)
    try:
        assert cursors.init("nats:RACE", 0) == 0  # the first replica, on an empty outbox
        real_get = cursors.get
        calls: list[str] = []

        def not_yet_seen(name: str) -> int | None:
            calls.append(name)
            return None if len(calls) == 1 else real_get(name)  # it looked before the first inserted

        monkeypatch.setattr(cursors, "get", not_yet_seen)
        assert cursors.init("nats:RACE", 5) == 0
        assert len(calls) == 2
        cursors.advance("nats:RACE", 3)
        cursors.advance("nats:RACE", 2)  # never back
        assert real_get("nats:RACE") == 3
    finally:
        with sessions.begin() as s:
            s.execute(delete(OutboxCursorRow))
