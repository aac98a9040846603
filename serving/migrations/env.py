"""Alembic environment: runs on the connection :func:`serving.db.migrate` hands it."""

from __future__ import annotations

from alembic import context

from serving.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through serving.db.migrate
    raise RuntimeError("run migrations through serving.db.migrate(engine)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
