"""Alembic environment: migrations run on the connection ``chute.catalog.engine`` passes."""

from __future__ import annotations

from alembic import context

import chute.queue.messages.schema  # (registers the message queue tables)
import chute.queue.schema  # noqa: F401  (registers the queue tables)
from chute.catalog.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    # One transaction for the whole upgrade, on SQLite too (alembic would otherwise commit
    # after each migration there): it holds the write lock that keeps a second process
    # starting at the same moment from migrating between two steps.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
