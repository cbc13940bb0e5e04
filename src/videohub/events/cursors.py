"""`OutboxCursors`: how far a named reader of the change outbox has got, kept in the
database so that the reader resumes there after a restart."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from videohub.events.subscription_models import OutboxCursorRow


class OutboxCursors:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, name: str) -> int | None:
        with self.sessions() as s:
            row = s.get(OutboxCursorRow, name)
            return None if row is None else row.seq

    def init(self, name: str, start: int) -> int:
        """The reader's cursor; a new reader's is created at `start`."""
        found = self.get(name)
        if found is not None:
            return found
        try:
            with self.sessions.begin() as s:
                s.add(OutboxCursorRow(name=name, seq=start, updated_at=datetime.now(UTC)))
        except IntegrityError:  # another replica created it first: use theirs
            theirs = self.get(name)  # 0 is a cursor (an empty outbox), not a missing one
            return start if theirs is None else theirs
        return start

    def advance(self, name: str, seq: int) -> None:
        """Moves the cursor forward (never back: a slower replica must not rewind it)."""
        with self.sessions.begin() as s:
            s.execute(
                update(OutboxCursorRow)
                .where(OutboxCursorRow.name == name, OutboxCursorRow.seq < seq)
                .values(seq=seq, updated_at=datetime.now(UTC))
            )
