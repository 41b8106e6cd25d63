"""The queue on SQLite.

SQLite has no arrays: a list of ids goes in as one expanded parameter per id. Many step
runs are inserted by an ``executemany``. Claims need no row locks, since SQLite runs one
write transaction at a time (the catalog queues this process's writers on a lock), and
nothing tells other processes of new jobs: their workers poll.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from chute.queue.schema import step_runs
from chute.queue.sql.dialect import Dialect


class SqliteDialect(Dialect):
    """SQLite's ways (see the module docstring)."""

    name = "sqlite"

    def ids_in(self, column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
        return column.in_(sa.bindparam(name, expanding=True))

    def lock_claim(self, ready: sa.Select[Any]) -> sa.Select[Any]:
        return ready

    def insert_step_runs(self) -> sa.Insert:
        return step_runs.insert()

    def step_run_params(self, rows: list[dict[str, Any]], worker: str, outcome: str) -> Any:
        return [{**row, "worker": worker, "outcome": outcome, "error": None} for row in rows]

    def notify(self, conn: sa.Connection) -> None:
        pass

    def json_text(self, column: Any, path: tuple[str, ...]) -> sa.ColumnElement[Any]:
        json_path = "$" + "".join(f'."{part}"' for part in path)
        kind = sa.func.json_type(column, json_path)
        return sa.case(
            (kind == "true", "true"),
            (kind == "false", "false"),
            else_=sa.cast(sa.func.json_extract(column, json_path), sa.Text),
        )
