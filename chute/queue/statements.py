"""The statements of the queue's hot path (claiming jobs, recording their results),
built once per kind of database.

Lists of ids go in differently: PostgreSQL takes one array parameter (``id = ANY(...)``),
so the statement text never changes and the server prepares it once; SQLite has no
arrays and takes one expanded parameter per id. Many step runs are inserted on
PostgreSQL by one ``INSERT ... SELECT FROM json_to_recordset(...)`` of one JSON text
parameter (far cheaper to send than arrays of timestamps), on SQLite by an
``executemany``.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from chute.catalog.schema import blobs, object_versions
from chute.queue.schema import jobs, runs, step_runs
from chute.queue.states import JobKind, JobState, RunState

_param = sa.bindparam

# Written exactly as the partial indexes' predicates: SQLite uses a partial index only for
# a query whose WHERE implies it, which a bound parameter never does.
READY_LITERAL = sa.text("jobs.state IN ('available', 'retryable')")

#: What the hot path reads of a job (see :class:`~chute.queue.records.JobRef`). JSON
#: columns are read as text here: most are ``{}``, which need no decoding.
REF_COLUMNS = (
    jobs.c.id,
    jobs.c.run_id,
    jobs.c.kind,
    jobs.c.pipeline,
    jobs.c.step,
    jobs.c.attempt,
    sa.cast(jobs.c.payload, sa.Text),
)


class Statements:
    """The hot path's statements for one kind of database."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        #: Of job ids, those ``:holder`` holds (``REF_COLUMNS``).
        self.held = sa.select(*REF_COLUMNS).where(
            self._in(jobs.c.id, "ids"),
            jobs.c.state == JobState.RUNNING.value,
            jobs.c.worker == _param("holder"),
        )
        #: Jobs ``:holder`` holds, succeeded at ``:now``; returns their ids.
        self.succeed = (
            jobs.update()
            .where(
                self._in(jobs.c.id, "ids"),
                jobs.c.state == JobState.RUNNING.value,
                jobs.c.worker == _param("holder"),
            )
            .values(
                state=JobState.SUCCEEDED.value,
                worker=None,
                lease_expires_at=None,
                updated_at=_param("now"),
                finished_at=_param("now"),
            )
            .returning(jobs.c.id)
        )
        #: Of run ids, those with a step job not (yet) succeeded.
        self.unfinished_runs = sa.select(jobs.c.run_id).where(
            self._in(jobs.c.run_id, "run_ids"),
            jobs.c.kind == JobKind.STEP.value,
            jobs.c.state != JobState.SUCCEEDED.value,
        )
        #: Runs marked succeeded at ``:now``; returns the ids that were not already.
        self.complete_runs = (
            runs.update()
            .where(self._in(runs.c.id, "run_ids"), runs.c.state != RunState.SUCCEEDED.value)
            .values(state=RunState.SUCCEEDED.value, finished_at=_param("now"))
            .returning(runs.c.id)
        )
        #: What runs process: the source version, where its bytes are (a store location,
        #: or inline bytes), and the event as stored (JSON text, passed on to workers
        #: without decoding it).
        self.run_sources = (
            sa.select(
                runs.c.id,
                runs.c.bucket,
                runs.c.key,
                runs.c.version_id,
                sa.cast(runs.c.event, sa.Text),
                object_versions.c.blob_id,
                object_versions.c.size,
                object_versions.c.etag,
                object_versions.c.sha256,
                object_versions.c.content_type,
                sa.cast(object_versions.c.user_metadata, sa.Text),
                blobs.c.kind,
                blobs.c.location,
                blobs.c.md5,
                blobs.c.data,
            )
            .select_from(
                runs.outerjoin(
                    object_versions, object_versions.c.id == runs.c.source_row
                ).outerjoin(blobs, blobs.c.id == object_versions.c.blob_id)
            )
            .where(self._in(runs.c.id, "run_ids"))
        )
        self.insert_step_runs = _json_step_runs() if postgres else step_runs.insert()

    def claim(self, steps: tuple[tuple[str, str], ...] | None) -> sa.Update:
        """Lease up to ``:limit`` ready jobs (of ``steps``, if given), oldest due first,
        to ``:worker`` until ``:lease_until``; returns ``run_at`` and ``REF_COLUMNS``.

        On PostgreSQL the candidate rows are locked with ``FOR UPDATE SKIP LOCKED``, so
        workers claiming at once never wait for each other or take the same job. A
        service claims for one set of steps all its life, so few are ever built."""
        return _claim(self.postgres, steps)

    def step_run_params(self, rows: list[dict[str, Any]], worker: str, outcome: str) -> Any:
        """Parameters of :attr:`insert_step_runs` for attempts of ``worker`` that ended
        with ``outcome`` and no error (``rows``: job_id, attempt, started_at, ended_at,
        report)."""
        if not self.postgres:
            return [{**row, "worker": worker, "outcome": outcome, "error": None} for row in rows]
        stamped = [
            {**row, "started_at": _iso(row["started_at"]), "ended_at": _iso(row["ended_at"])}
            for row in rows
        ]
        return {"worker": worker, "outcome": outcome, "rows": json.dumps(stamped)}

    def _in(self, column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
        if self.postgres:
            return column == sa.any_(_param(name, type_=ARRAY(sa.BigInteger())))
        return column.in_(_param(name, expanding=True))


@lru_cache(maxsize=32)
def _claim(postgres: bool, steps: tuple[tuple[str, str], ...] | None) -> sa.Update:
    ready = (
        sa.select(jobs.c.id)
        .where(READY_LITERAL, jobs.c.run_at <= _param("now"))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(_param("limit", type_=sa.Integer()))
    )
    if steps is not None:
        ready = ready.where(sa.tuple_(jobs.c.pipeline, jobs.c.step).in_(list(steps)))
    if postgres:
        ready = ready.with_for_update(skip_locked=True)
    return (
        jobs.update()
        .where(jobs.c.id.in_(ready.scalar_subquery()))
        .values(
            state=JobState.RUNNING.value,
            attempt=jobs.c.attempt + 1,
            worker=_param("worker"),
            lease_expires_at=_param("lease_until"),
            started_at=None,  # set when the worker reports the attempt started
            updated_at=_param("now"),
        )
        .returning(jobs.c.run_at, *REF_COLUMNS)
    )


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


@cache
def statements(postgres: bool) -> Statements:
    """The statements for PostgreSQL (``True``) or SQLite."""
    return Statements(postgres)
