"""Function invocation logs (``CatalogSession.function_logs``): appended one row per
invocation, read in id order from a cursor, pruned by age."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

import sqlalchemy as sa

from chute.catalog.records import FunctionLogEntry, NewFunctionLog
from chute.catalog.schema import function_logs

_INSERT = function_logs.insert()


class FunctionLogStore:
    """Function log queries inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, logs: Sequence[NewFunctionLog]) -> None:
        """Append invocation logs, in one statement."""
        if logs:
            self.conn.execute(_INSERT, [asdict(log) for log in logs])

    def after(self, function: str, cursor: int, limit: int) -> list[FunctionLogEntry]:
        """Up to ``limit`` logs of ``function`` with ids above ``cursor``, oldest first."""
        query = (
            sa.select(function_logs)
            .where(function_logs.c.function == function, function_logs.c.id > cursor)
            .order_by(function_logs.c.id)
            .limit(limit)
        )
        return [FunctionLogEntry(**row) for row in self.conn.execute(query).mappings()]

    def prune(self, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the oldest logs of invocations started before
        ``before``; how many went. Ids are never reused, so cursors stay valid."""
        oldest = (
            sa.select(function_logs.c.id)
            .where(function_logs.c.logged_at < before)
            .order_by(function_logs.c.id)
            .limit(limit)
        )
        ids = [row[0] for row in self.conn.execute(oldest)]
        if ids:
            self.conn.execute(function_logs.delete().where(function_logs.c.id.in_(ids)))
        return len(ids)
