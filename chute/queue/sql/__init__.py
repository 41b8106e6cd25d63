"""The durable job queue in the catalog database: one :class:`SqlJobQueue` over
SQLAlchemy, with what differs between SQLite and PostgreSQL in one
:class:`~chute.queue.sql.dialect.Dialect` per engine."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from chute.errors import CatalogError
from chute.queue.sql.dialect import Dialect
from chute.queue.sql.postgres import PostgresDialect
from chute.queue.sql.sqlite import SqliteDialect
from chute.queue.sql.store import SqlJobQueue

__all__ = ["Dialect", "SqlJobQueue", "dialect_of", "sql_queue"]


def sql_queue(conn: sa.Connection) -> SqlJobQueue:
    """The queue inside the transaction of ``conn``."""
    return SqlJobQueue(conn, dialect_of(conn))


def dialect_of(conn: sa.Connection) -> Dialect:
    """The dialect of the engine ``conn`` is connected to (built once per engine)."""
    return _dialect(conn.dialect.name)


@cache
def _dialect(name: str) -> Dialect:
    if name == PostgresDialect.name:
        return PostgresDialect()
    if name == SqliteDialect.name:
        return SqliteDialect()
    raise CatalogError(f"the queue runs on SQLite or PostgreSQL, not {name}")
