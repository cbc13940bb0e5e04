"""Alembic environment: runs on the connection `videohub.migrations.upgrade` hands over."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through videohub.migrations.upgrade(engine)")

# SQLite cannot ALTER most things; batch mode rebuilds the table instead.
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
