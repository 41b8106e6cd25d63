"""The statements of the queue's hot path (claiming jobs, recording their results),
built once per engine from its :class:`~chute.queue.sql.dialect.Dialect`.

How lists of ids and many step runs go in differs by engine (see the dialect modules);
the statements here are otherwise the same everywhere. Executing a prebuilt statement
with parameters skips SQLAlchemy's per-call construction and cache-key work.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from chute.catalog.schema import blobs, object_versions
from chute.queue.records import JobFilter
from chute.queue.schema import jobs, runs
from chute.queue.states import DONE_STATES, JobKind, JobState, RunState

if TYPE_CHECKING:
    from chute.queue.sql.dialect import Dialect

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
    jobs.c.claims,
)


class Statements:
    """The hot path's statements for one engine."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        ids_in = dialect.ids_in
        #: Of job ids, those ``:holder`` holds (``REF_COLUMNS``).
        self.held = sa.select(*REF_COLUMNS).where(
            ids_in(jobs.c.id, "ids"),
            jobs.c.state == JobState.RUNNING.value,
            jobs.c.worker == _param("holder"),
        )
        #: Jobs ``:holder`` holds, succeeded at ``:now``; returns their ids.
        self.succeed = (
            jobs.update()
            .where(
                ids_in(jobs.c.id, "ids"),
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
        # Named, not "not done": an index seeks each state of a list (``ix_jobs_run_state``).
        undone = [state.value for state in JobState if state not in DONE_STATES]
        #: Of run ids, those with a step job not (yet) done.
        self.unfinished_runs = sa.select(jobs.c.run_id).where(
            ids_in(jobs.c.run_id, "run_ids"),
            jobs.c.state.in_(undone),
            jobs.c.kind == JobKind.STEP.value,
        )
        #: The jobs of run ``:run_id`` not done: (id, step, state).
        self.undone_jobs = sa.select(jobs.c.id, jobs.c.step, jobs.c.state).where(
            jobs.c.run_id == _param("run_id"), jobs.c.state.in_(undone)
        )
        #: Runs marked succeeded at ``:now``; returns the ids that were not already.
        self.complete_runs = (
            runs.update()
            .where(ids_in(runs.c.id, "run_ids"), runs.c.state != RunState.SUCCEEDED.value)
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
            .where(ids_in(runs.c.id, "run_ids"))
        )
        #: Many step runs at once (see :meth:`Dialect.step_run_params`).
        self.insert_step_runs = dialect.insert_step_runs()

    def claim(self, steps: tuple[tuple[str, str], ...] | None) -> sa.Update:
        """Lease up to ``:limit`` ready jobs (of ``steps``, if given), oldest due first,
        to ``:worker`` until ``:lease_until``; returns ``run_at`` and ``REF_COLUMNS``.

        The candidate rows are locked as the engine needs (:meth:`Dialect.lock_claim`).
        A service claims for one set of steps all its life, so few are ever built."""
        return _claim(self.dialect, steps)


@lru_cache(maxsize=32)
def _claim(dialect: Dialect, steps: tuple[tuple[str, str], ...] | None) -> sa.Update:
    ready = (
        sa.select(jobs.c.id)
        .where(READY_LITERAL, jobs.c.run_at <= _param("now"))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(_param("limit", type_=sa.Integer()))
    )
    if steps is not None:
        ready = ready.where(sa.tuple_(jobs.c.pipeline, jobs.c.step).in_(list(steps)))
    ready = dialect.lock_claim(ready)
    return (
        jobs.update()
        .where(jobs.c.id.in_(ready.scalar_subquery()))
        .values(
            state=JobState.RUNNING.value,
            attempt=jobs.c.attempt + 1,
            claims=jobs.c.claims + 1,
            worker=_param("worker"),
            lease_expires_at=_param("lease_until"),
            started_at=None,  # set when the worker reports the attempt started
            updated_at=_param("now"),
        )
        .returning(jobs.c.run_at, *REF_COLUMNS)
    )


def filtered(query: sa.Select[Any], where: JobFilter) -> sa.Select[Any]:
    """``query`` narrowed to the jobs ``where`` matches."""
    if where.states is not None:
        query = query.where(jobs.c.state.in_([state.value for state in where.states]))
    if where.pipeline is not None:
        query = query.where(jobs.c.pipeline == where.pipeline)
    if where.bucket is not None:
        query = query.where(jobs.c.bucket == where.bucket)
    if where.key_prefix:
        query = query.where(jobs.c.key.startswith(where.key_prefix, autoescape=True))
    if where.since is not None:
        query = query.where(jobs.c.created_at >= where.since)
    if where.until is not None:
        query = query.where(jobs.c.created_at < where.until)
    if where.job_ids is not None:
        query = query.where(jobs.c.id.in_(list(where.job_ids)))
    return query
