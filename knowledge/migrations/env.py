"""Alembic environment: the engine comes from the caller (``knowledge.database.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import knowledge.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata
engine = context.config.attributes.get("engine")
if engine is None:
    raise RuntimeError("knowledge migrations run through knowledge.database.upgrade(engine)")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
