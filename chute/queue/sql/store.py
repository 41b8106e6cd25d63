"""The queue in the catalog database, on any engine: the SQL both SQLite and PostgreSQL
run, with what differs in the engine's :class:`~chute.queue.sql.dialect.Dialect`.

:class:`SqlJobQueue` works inside a catalog transaction (it wraps the same connection
as :class:`~chute.catalog.CatalogSession`), so a run and its jobs are created in the
transaction that records the triggering event, and a job's success is recorded in the
transaction that records its outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chute.queue.base import REDRIVE_LIMIT, EndedAttempt, Steps, dead_among, stored_text
from chute.queue.records import ClaimSource, Job, JobFilter, JobRef, NewJob, Run, RunSource, StepRun
from chute.queue.schema import jobs, run_items, runs, step_runs
from chute.queue.sql.dialect import Dialect
from chute.queue.sql.rows import (
    job_values,
    to_claim_source,
    to_job,
    to_ref,
    to_run,
    to_step_run,
)
from chute.queue.sql.statements import READY_LITERAL, filtered
from chute.queue.states import (
    ENDED_STATES,
    READY_STATES,
    WAITING_STATES,
    JobKind,
    JobState,
    Outcome,
    RunState,
)

_param = sa.bindparam
_job_columns = list(jobs.c)

# As the partial index's predicate (see ``READY_LITERAL``).
_RUNNING_LITERAL = sa.text("jobs.state = 'running'")
_INSERT_RUN = runs.insert()
_INSERT_JOB = jobs.insert()
_GET_JOB = sa.select(*_job_columns).where(jobs.c.id == _param("id"))
_GET_RUN = sa.select(runs).where(runs.c.id == _param("id"))
_INSERT_STEP_RUN = step_runs.insert()
_FENCED = sa.select(*_job_columns).where(
    jobs.c.id == _param("id"),
    jobs.c.state == JobState.RUNNING.value,
    jobs.c.attempt == _param("attempt"),
    jobs.c.worker == _param("worker"),
)
_FINISH = (
    jobs.update()
    .where(jobs.c.id == _param("job_id"))
    .values(
        state=_param("state"),
        run_at=_param("run_at"),
        worker=None,
        lease_expires_at=None,
        updated_at=_param("now"),
        finished_at=_param("finished_at"),
        last_error=_param("error"),
        last_traceback=_param("traceback"),
    )
)


class SqlJobQueue:
    """The :class:`~chute.queue.base.JobQueue` inside one catalog transaction."""

    def __init__(self, conn: sa.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.sql = dialect.statements

    # --- creating work -------------------------------------------------------------

    def create_run(
        self, pipeline: str, source: RunSource, new_jobs: Sequence[NewJob], now: datetime
    ) -> int:
        """Add a run and its jobs: steps without ``needs`` are available at once, the
        rest blocked until the steps they need have succeeded."""
        result = self.conn.execute(
            _INSERT_RUN,
            {
                "pipeline": pipeline,
                "bucket": source.bucket,
                "key": source.key,
                "version_id": source.version_id,
                "source_row": source.source_row,
                "event": source.event,
                "state": RunState.ACTIVE.value,
                "created_at": now,
            },
        )
        (run_id,) = result.inserted_primary_key or (0,)
        self.add_jobs(int(run_id), pipeline, source, new_jobs, now)
        return int(run_id)

    def add_jobs(
        self,
        run_id: int,
        pipeline: str,
        source: RunSource,
        new_jobs: Sequence[NewJob],
        now: datetime,
    ) -> None:
        """Add jobs to an existing run (notifications, for instance)."""
        rows = [job_values(run_id, pipeline, source, job, now) for job in new_jobs]
        if rows:
            self.conn.execute(_INSERT_JOB, rows)
            self.notify()

    def notify(self) -> None:
        """Tell workers in other processes that jobs became ready, when this
        transaction commits (see :meth:`Dialect.notify`)."""
        self.dialect.notify(self.conn)

    # --- claiming and leases ---------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_until: datetime,
        now: datetime,
        steps: Steps | None = None,
    ) -> list[JobRef]:
        """Take up to ``limit`` ready jobs, oldest due first, leased to ``worker``
        (see :meth:`Statements.claim`). ``steps`` limits the claim to those (pipeline,
        step) pairs."""
        claim = self.sql.claim(None if steps is None else tuple(steps))
        params = {"limit": limit, "worker": worker, "lease_until": lease_until, "now": now}
        rows = sorted(self.conn.execute(claim, params).all(), key=lambda row: (row[0], row[1]))
        return [to_ref(row[1:]) for row in rows]

    def run_sources(self, run_ids: Iterable[int]) -> dict[int, ClaimSource]:
        """What each of these runs processes (for tasks of claimed jobs)."""
        rows = self.conn.execute(self.sql.run_sources, {"run_ids": list(run_ids)}).all()
        sources = (to_claim_source(row) for row in rows)
        return {source.run_id: source for source in sources}

    def extend_leases(self, worker: str, job_ids: Sequence[int], until: datetime) -> int:
        """Push back the lease of ``worker``'s running jobs; returns how many it holds."""
        if not job_ids:
            return 0
        result = self.conn.execute(
            jobs.update()
            .where(
                jobs.c.id.in_(list(job_ids)),
                jobs.c.worker == worker,
                jobs.c.state == JobState.RUNNING.value,
            )
            .values(lease_expires_at=until)
        )
        return result.rowcount

    def mark_started(self, worker: str, job_ids: Sequence[int], now: datetime) -> None:
        """Note that ``worker`` handed these running jobs' attempts to a process."""
        if not job_ids:
            return
        self.conn.execute(
            jobs.update()
            .where(
                jobs.c.id.in_(list(job_ids)),
                jobs.c.worker == worker,
                jobs.c.state == JobState.RUNNING.value,
                jobs.c.started_at.is_(None),
            )
            .values(started_at=now)
        )

    def hand_over(
        self,
        job_id: int,
        worker: str,
        holder: str,
        until: datetime,
        now: datetime,
        payload: dict[str, Any],
    ) -> bool:
        result = self.conn.execute(
            jobs.update()
            .where(
                jobs.c.id == job_id,
                jobs.c.worker == worker,
                jobs.c.state == JobState.RUNNING.value,
            )
            .values(worker=holder, lease_expires_at=until, started_at=now, payload=payload)
        )
        return bool(result.rowcount)

    def expired_leases(self, now: datetime, limit: int = 100) -> list[Job]:
        """Running jobs whose worker stopped renewing its lease."""
        query = (
            sa.select(*_job_columns)
            .where(_RUNNING_LITERAL, jobs.c.lease_expires_at < now)
            .order_by(jobs.c.lease_expires_at)
            .limit(limit)
        )
        return [to_job(row) for row in self.conn.execute(query)]

    def fenced(self, job_id: int, attempt: int, worker: str) -> Job | None:
        """The job if ``worker`` still holds it at ``attempt`` (a result from a worker
        whose lease was taken over is stale and must be dropped)."""
        params = {"id": job_id, "attempt": attempt, "worker": worker}
        row = self.conn.execute(_FENCED, params).first()
        return to_job(row) if row else None

    def held(self, attempts: Sequence[tuple[int, int]], worker: str) -> dict[int, JobRef]:
        """Of ``(job id, attempt)`` pairs, the jobs ``worker`` still holds at that attempt."""
        wanted = dict(attempts)
        if not wanted:
            return {}
        rows = self.conn.execute(self.sql.held, {"ids": list(wanted), "holder": worker}).all()
        refs = (to_ref(row) for row in rows)
        return {ref.id: ref for ref in refs if ref.attempt == wanted[ref.id]}

    def next_due(self, now: datetime, steps: Steps | None = None) -> datetime | None:
        """When the next ready job (of ``steps``, if given) becomes due; ``now`` or
        earlier if one is due already."""
        query = sa.select(sa.func.min(jobs.c.run_at)).where(READY_LITERAL)
        if steps is not None:
            query = query.where(sa.tuple_(jobs.c.pipeline, jobs.c.step).in_(list(steps)))
        return self.conn.execute(query).scalar()

    # --- finishing attempts ------------------------------------------------------------

    def finish(
        self,
        job: Job,
        state: JobState,
        now: datetime,
        *,
        run_at: datetime | None = None,
        error: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """Move a job out of ``running``: to ``succeeded``, ``retryable`` (due at
        ``run_at``), ``dead``, ``superseded`` or back to ``available`` (released
        unstarted)."""
        terminal = state in ENDED_STATES
        self.conn.execute(
            _FINISH,
            {
                "job_id": job.id,
                "state": state.value,
                "run_at": run_at or job.run_at,
                "now": now,
                "finished_at": now if terminal else None,
                "error": stored_text(error) if error is not None else job.last_error,
                "traceback": stored_text(traceback)
                if traceback is not None
                else job.last_traceback,
            },
        )
        if state in READY_STATES and run_at is not None and run_at <= now:
            self.notify()

    def succeed_held(self, job_ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Mark succeeded the running jobs among ``job_ids`` that ``worker`` holds (one
        statement); returns their ids."""
        if not job_ids:
            return set()
        params = {"ids": list(job_ids), "holder": worker, "now": now}
        return {row[0] for row in self.conn.execute(self.sql.succeed, params)}

    def add_step_runs(
        self,
        worker: str,
        outcome: Outcome,
        attempts: Sequence[EndedAttempt],
    ) -> None:
        """Record several attempts ``worker`` ended with ``outcome`` and no error (one
        statement)."""
        if not attempts:
            return
        rows = [
            {
                "job_id": job.id,
                "attempt": job.attempt,
                "started_at": started,
                "ended_at": ended,
                "report": report,
            }
            for job, started, ended, report in attempts
        ]
        params = self.dialect.step_run_params(rows, worker, outcome.value)
        self.conn.execute(self.sql.insert_step_runs, params)

    def complete_runs(self, run_ids: Iterable[int], now: datetime) -> list[int]:
        """Mark succeeded the runs among ``run_ids`` whose step jobs are all done
        (succeeded or skipped); returns those that were not already marked."""
        candidates = list(run_ids)
        if not candidates:
            return []
        unfinished = self.conn.execute(self.sql.unfinished_runs, {"run_ids": candidates})
        busy = {row[0] for row in unfinished}
        done = [run_id for run_id in candidates if run_id not in busy]
        if not done:
            return []
        result = self.conn.execute(self.sql.complete_runs, {"run_ids": done, "now": now})
        return [row[0] for row in result]

    def release(self, job: Job, now: datetime, *, lost: bool = False) -> None:
        """Give back a claimed job whose attempt does not count: a draining worker did
        not finish it, or (``lost``, counted in ``unstarted_losses``) its worker died
        before starting it."""
        values: dict[str, Any] = {
            "state": JobState.AVAILABLE.value,
            "attempt": job.attempt - 1,
            "worker": None,
            "lease_expires_at": None,
            "started_at": None,
            "updated_at": now,
        }
        if lost:
            values["unstarted_losses"] = jobs.c.unstarted_losses + 1
        self.conn.execute(
            jobs.update().where(jobs.c.id == job.id, jobs.c.attempt == job.attempt).values(values)
        )
        self.notify()

    def add_step_run(
        self,
        job: Job,
        outcome: Outcome,
        *,
        started_at: datetime | None,
        ended_at: datetime,
        error: str | None = None,
        report: dict[str, Any] | None = None,
    ) -> int:
        """Record one attempt of ``job``."""
        result = self.conn.execute(
            _INSERT_STEP_RUN,
            {
                "job_id": job.id,
                "attempt": job.attempt,
                "worker": job.worker,
                "outcome": outcome.value,
                "started_at": started_at,
                "ended_at": ended_at,
                "error": stored_text(error),
                "report": report or {},
            },
        )
        (step_run_id,) = result.inserted_primary_key or (0,)
        return int(step_run_id)

    def unblock(self, run_id: int, now: datetime) -> list[Job]:
        """Make available the blocked jobs of a run whose needs are all done (see
        :meth:`JobQueue.unblock`). Reads only the run's jobs not done, through
        ``ix_jobs_run_state``: a Map's thousands of finished jobs are never scanned."""
        params = {"run_id": run_id}
        undone = self.conn.execute(self.sql.undone_jobs, params).all()
        steps = {row.step for row in undone}
        blocked = [row.id for row in undone if row.state == JobState.BLOCKED.value]
        if not blocked:
            return []
        candidates = self.conn.execute(sa.select(*_job_columns).where(jobs.c.id.in_(blocked))).all()
        ready = [to_job(row) for row in candidates if not steps & set(to_job(row).needs)]
        if not ready:
            return []
        self.conn.execute(
            jobs.update()
            .where(jobs.c.id.in_([job.id for job in ready]))
            .values(state=JobState.AVAILABLE.value, run_at=now, updated_at=now)
        )
        self.notify()
        return [replace(job, state=JobState.AVAILABLE, run_at=now, updated_at=now) for job in ready]

    def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        self.conn.execute(jobs.update().where(jobs.c.id == job_id).values(payload=payload))

    def supersede(self, run_ids: Iterable[int], claimed: Iterable[int], now: datetime) -> None:
        """End runs whose object version is gone: the runs become superseded, and so do
        their jobs that wait and the ``claimed`` ones (jobs running elsewhere finish
        as they will); the items they kept are forgotten (their blobs are swept)."""
        ids, held = list(set(run_ids)), list(claimed)
        if not ids:
            return
        self.conn.execute(
            runs.update()
            .where(runs.c.id.in_(ids), runs.c.state == RunState.ACTIVE.value)
            .values(state=RunState.SUPERSEDED.value, finished_at=now)
        )
        waiting = [state.value for state in WAITING_STATES]
        ended = {
            "state": JobState.SUPERSEDED.value,
            "worker": None,
            "lease_expires_at": None,
            "updated_at": now,
            "finished_at": now,
        }
        self.conn.execute(
            jobs.update()
            .where(jobs.c.run_id.in_(ids), sa.or_(jobs.c.state.in_(waiting), jobs.c.id.in_(held)))
            .values(**ended)
        )
        # What their steps kept for one another is of no use now: the sweep takes the blobs.
        self.conn.execute(run_items.delete().where(run_items.c.run_id.in_(ids)))

    def set_run_state(self, run_id: int, state: RunState, now: datetime) -> bool:
        """Set a run's state; returns whether it changed."""
        result = self.conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.state != state.value)
            .values(state=state.value, finished_at=None if state is RunState.ACTIVE else now)
        )
        return result.rowcount > 0

    def redrive(self, where: JobFilter, attempts: Callable[[Job], int], now: datetime) -> int:
        """Make the matching dead jobs available with ``attempts(job)`` more attempts,
        and reactivate their runs. Jobs with the same fresh allowance are updated
        together, in chunks, so a large redrive stays a few statements."""
        dead = self.list_jobs(dead_among(where), None, REDRIVE_LIMIT)
        by_allowance: dict[int, list[Job]] = {}
        for job in dead:
            by_allowance.setdefault(attempts(job), []).append(job)
        for allowance, group in by_allowance.items():
            for start in range(0, len(group), 500):
                ids = [job.id for job in group[start : start + 500]]
                self.conn.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(ids), jobs.c.state == JobState.DEAD.value)
                    .values(
                        state=JobState.AVAILABLE.value,
                        max_attempts=jobs.c.attempt + allowance,
                        run_at=now,
                        updated_at=now,
                        finished_at=None,
                    )
                )
        run_ids = {job.run_id for job in dead if job.kind == JobKind.STEP}
        if run_ids:
            still_dead = (
                sa.select(jobs.c.id)
                .where(
                    jobs.c.run_id == runs.c.id,
                    jobs.c.kind == JobKind.STEP.value,
                    jobs.c.state == JobState.DEAD.value,
                )
                .exists()
            )
            self.conn.execute(
                runs.update()
                .where(runs.c.id.in_(run_ids), ~still_dead)
                .values(state=RunState.ACTIVE.value, finished_at=None)
            )
        if dead:
            self.notify()
        return len(dead)

    # --- reading -----------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job | None:
        row = self.conn.execute(_GET_JOB, {"id": job_id}).first()
        return to_job(row) if row else None

    def lock_job(self, job_id: int) -> Job | None:
        row = self.conn.execute(_GET_JOB.with_for_update(), {"id": job_id}).first()
        return to_job(row) if row else None

    def get_run(self, run_id: int) -> Run | None:
        row = self.conn.execute(_GET_RUN, {"id": run_id}).first()
        return to_run(row) if row else None

    def runs_of(self, bucket: str, key: str, version_id: str | None = None) -> list[Run]:
        """Runs for a key (or one version of it), oldest first."""
        query = sa.select(runs).where(runs.c.bucket == bucket, runs.c.key == key)
        if version_id is not None:
            query = query.where(runs.c.version_id == version_id)
        return [to_run(row) for row in self.conn.execute(query.order_by(runs.c.id))]

    def jobs_of_runs(self, run_ids: Sequence[int]) -> list[Job]:
        query = sa.select(*_job_columns).where(jobs.c.run_id.in_(list(run_ids))).order_by(jobs.c.id)
        return [to_job(row) for row in self.conn.execute(query)]

    def jobs_of_runs_folded(
        self, run_ids: Sequence[int], steps: Collection[str]
    ) -> tuple[list[Job], dict[tuple[int, str], int]]:
        if not steps:
            return self.jobs_of_runs(run_ids), {}
        of_runs = jobs.c.run_id.in_(list(run_ids))
        fold = sa.and_(jobs.c.step.in_(list(steps)), jobs.c.state == JobState.SUCCEEDED.value)
        query = sa.select(*_job_columns).where(of_runs, sa.not_(fold)).order_by(jobs.c.id)
        listed = [to_job(row) for row in self.conn.execute(query)]
        counts = (
            sa.select(jobs.c.run_id, jobs.c.step, sa.func.count())
            .where(of_runs, fold)
            .group_by(jobs.c.run_id, jobs.c.step)
        )
        return listed, {(row[0], row[1]): row[2] for row in self.conn.execute(counts)}

    def step_runs_of(self, job_ids: Sequence[int]) -> list[StepRun]:
        query = (
            sa.select(step_runs)
            .where(step_runs.c.job_id.in_(list(job_ids)))
            .order_by(step_runs.c.id)
        )
        return [to_step_run(row) for row in self.conn.execute(query)]

    def list_jobs(self, where: JobFilter, after_id: int | None, limit: int) -> list[Job]:
        """Jobs matching ``where``, newest first, after the cursor ``after_id``."""
        query = filtered(sa.select(*_job_columns), where)
        if after_id is not None:
            query = query.where(jobs.c.id < after_id)
        rows = self.conn.execute(query.order_by(jobs.c.id.desc()).limit(limit))
        return [to_job(row) for row in rows]

    def count_jobs(self, where: JobFilter) -> dict[JobState, int]:
        """How many jobs matching ``where`` are in each state."""
        query = filtered(sa.select(jobs.c.state, sa.func.count()), where).group_by(jobs.c.state)
        return {JobState(state): count for state, count in self.conn.execute(query)}
