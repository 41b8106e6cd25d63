"""The queue on PostgreSQL.

Lists of ids go in as one array parameter (``id = ANY(...)``), so the statement text
never changes and the server prepares it once. Many step runs are inserted by one
``INSERT ... SELECT FROM json_to_recordset(...)`` of one JSON text parameter (far
cheaper to send than arrays of timestamps). Claims lock their rows with ``FOR UPDATE
SKIP LOCKED``, so workers claiming at once never wait for each other. A transaction
that makes jobs ready notifies :data:`CHANNEL`, which
:class:`~chute.queue.wakeup.PostgresListener` relays to the workers of its process.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from chute.queue.schema import step_runs
from chute.queue.sql.dialect import Dialect

#: The channel a commit that makes jobs ready notifies.
CHANNEL = "chute_jobs"

_param = sa.bindparam
_NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, ""))


class PostgresDialect(Dialect):
    """PostgreSQL's ways (see the module docstring)."""

    name = "postgresql"

    def ids_in(self, column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
        return column == sa.any_(_param(name, type_=ARRAY(sa.BigInteger())))

    def lock_claim(self, ready: sa.Select[Any]) -> sa.Select[Any]:
        return ready.with_for_update(skip_locked=True)

    def insert_step_runs(self) -> sa.Insert:
        return _json_step_runs()

    def step_run_params(self, rows: list[dict[str, Any]], worker: str, outcome: str) -> Any:
        stamped = [
            {**row, "started_at": _iso(row["started_at"]), "ended_at": _iso(row["ended_at"])}
            for row in rows
        ]
        return {"worker": worker, "outcome": outcome, "rows": json.dumps(stamped)}

    def notify(self, conn: sa.Connection) -> None:
        conn.execute(_NOTIFY)

    def json_text(self, column: Any, path: tuple[str, ...]) -> sa.ColumnElement[Any]:
        text: sa.ColumnElement[Any] = column[path].as_string()
        return text


def _json_step_runs() -> sa.Insert:
    rows = (
        sa.func.json_to_recordset(_param("rows", type_=sa.Text()).cast(sa.JSON()))
        .table_valued(
            sa.column("job_id", sa.BigInteger()),
            sa.column("attempt", sa.Integer()),
            sa.column("started_at", sa.DateTime(timezone=True)),
            sa.column("ended_at", sa.DateTime(timezone=True)),
            sa.column("report", sa.JSON()),
        )
        .render_derived("attempts", with_types=True)
    )
    columns = [
        "job_id",
        "attempt",
        "worker",
        "outcome",
        "started_at",
        "ended_at",
        "error",
        "report",
    ]
    select = sa.select(
        rows.c.job_id,
        rows.c.attempt,
        _param("worker", type_=sa.String()),
        _param("outcome", type_=sa.String()),
        rows.c.started_at,
        rows.c.ended_at,
        sa.null(),
        rows.c.report,
    )
    return step_runs.insert().from_select(columns, select)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the catalog")
    return moment.isoformat()
