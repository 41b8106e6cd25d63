"""The job queue interface: runs, their jobs and the attempts of those jobs.

:class:`JobQueue` is everything the pipeline services ask of the queue. Backends:
``chute.queue.sql`` (the durable queue in the catalog database, SQLite or PostgreSQL;
what ``CatalogSession.queue`` returns, inside the catalog transaction) and
``chute.queue.memory`` (dicts, for unit tests). Both pass one conformance suite
(``tests/integration/queue/test_conformance.py``), which checks what these docstrings
promise.

Times are aware datetimes passed in by the caller (the queue never reads a clock), so
tests drive it with a :class:`~chute.clock.FakeClock`. A job's ``attempt`` counts the
attempts claimed so far and is the fencing token: a worker's result counts only while
the job is ``running``, leased to that worker, at that attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from chute.queue.records import (
    ClaimSource,
    Job,
    JobFilter,
    JobRef,
    NewJob,
    Run,
    RunSource,
    StepRun,
)
from chute.queue.states import JobState, Outcome, RunState

#: Most dead jobs one redrive makes available again.
REDRIVE_LIMIT = 100_000

#: ``(pipeline, step)`` pairs a worker can run.
Steps: TypeAlias = Sequence[tuple[str, str]]
#: An attempt that ended without an error: the job, when it started (``None``: never
#: reported), when it ended, and the step's report.
EndedAttempt: TypeAlias = tuple[JobRef, datetime | None, datetime, dict[str, Any]]


def stored_text(value: str | None) -> str | None:
    """Error text as every backend keeps it: NUL characters written ``\\0``, since
    PostgreSQL refuses them."""
    return value.replace("\x00", "\\0") if value else value


def dead_among(where: JobFilter) -> JobFilter:
    """``where`` narrowed to dead jobs, the only ones a redrive takes."""
    dead = where.states is None or JobState.DEAD in where.states
    return replace(where, states=(JobState.DEAD,) if dead else ())


class JobQueue(Protocol):
    """The queue's operations (see the module docstring). Jobs that become ready are
    announced to waiting workers (PostgreSQL: ``pg_notify`` when the transaction
    commits; memory: its ``on_ready`` callback)."""

    # --- creating work -------------------------------------------------------------

    def create_run(
        self, pipeline: str, source: RunSource, new_jobs: Sequence[NewJob], now: datetime
    ) -> int:
        """Add an ``active`` run of ``pipeline`` on ``source`` and its jobs; returns the
        run id (ids grow). Jobs without ``needs`` are ``available`` at ``now``, the
        others ``blocked``; every job starts at attempt 0."""
        ...

    def add_jobs(
        self,
        run_id: int,
        pipeline: str,
        source: RunSource,
        new_jobs: Sequence[NewJob],
        now: datetime,
    ) -> None:
        """Add jobs to an existing run (its notifications), as :meth:`create_run` does."""
        ...

    # --- claiming and leases ---------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_until: datetime,
        now: datetime,
        steps: Steps | None = None,
    ) -> list[JobRef]:
        """Lease up to ``limit`` jobs that are ``available`` or ``retryable`` and due
        (``run_at <= now``) to ``worker`` until ``lease_until``, oldest due first (ties
        by id), of ``steps`` only if given. Each becomes ``running`` at the next
        attempt, not yet started; returned in the same order."""
        ...

    def run_sources(self, run_ids: Iterable[int]) -> dict[int, ClaimSource]:
        """What each of these runs processes, by run id: its bucket, key, version and
        event (as JSON text), and the source version's blob (``None`` fields when the
        version is gone; the memory backend has no catalog, so always ``None``)."""
        ...

    def extend_leases(self, worker: str, job_ids: Sequence[int], until: datetime) -> int:
        """Move the lease of the ``running`` jobs among ``job_ids`` that ``worker``
        holds to ``until``; returns how many it holds."""
        ...

    def mark_started(self, worker: str, job_ids: Sequence[int], now: datetime) -> None:
        """Note ``now`` as the start of the running attempts among ``job_ids`` that
        ``worker`` holds and had not started (a start already noted stays)."""
        ...

    def hand_over(
        self,
        job_id: int,
        worker: str,
        holder: str,
        until: datetime,
        now: datetime,
        payload: dict[str, Any],
    ) -> bool:
        """Pass the running job ``worker`` holds to ``holder`` (someone outside the
        worker pools, such as an SQS queue's consumer), leased until ``until``, its
        attempt started ``now`` and its payload replaced; returns whether ``worker``
        held it."""
        ...

    def expired_leases(self, now: datetime, limit: int = 100) -> list[Job]:
        """Up to ``limit`` ``running`` jobs whose lease ended before ``now``, the
        earliest ended first."""
        ...

    def fenced(self, job_id: int, attempt: int, worker: str) -> Job | None:
        """The job if ``worker`` still holds it ``running`` at ``attempt``, else
        ``None`` (a result from a worker whose lease was taken over is stale)."""
        ...

    def held(self, attempts: Sequence[tuple[int, int]], worker: str) -> dict[int, JobRef]:
        """Of ``(job id, attempt)`` pairs, the jobs ``worker`` still holds ``running``
        at that attempt, by id."""
        ...

    def next_due(self, now: datetime, steps: Steps | None = None) -> datetime | None:
        """The earliest ``run_at`` of the ``available`` or ``retryable`` jobs (of
        ``steps``, if given), even if it is past; ``None`` if no job is ready."""
        ...

    def release(self, job: Job, now: datetime, *, lost: bool = False) -> None:
        """Give back a claimed job whose attempt does not count: unless another attempt
        took it since, it is ``available`` again at the attempt before, with no worker,
        lease or start. ``lost`` (its worker died before starting it) adds one to its
        ``unstarted_losses``."""
        ...

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
        """Move ``job`` (as read, no fencing: the caller fenced it) to ``state``:
        ``succeeded``, ``skipped``, ``retryable`` (due again at ``run_at``), ``dead``,
        ``superseded`` or ``available``. The worker and lease are cleared;
        ``finished_at`` is ``now`` for an ended state, else cleared. ``error`` and
        ``traceback`` replace the last ones when given (see :func:`stored_text`);
        ``run_at`` defaults to the job's."""
        ...

    def succeed_held(self, job_ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Mark ``succeeded`` (finished ``now``) the ``running`` jobs among ``job_ids``
        that ``worker`` holds; returns their ids. The SQL backend does it in one
        statement, whatever the number of jobs."""
        ...

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
        """Record one attempt of ``job`` (its attempt number and worker as read);
        returns the step run's id."""
        ...

    def add_step_runs(
        self, worker: str, outcome: Outcome, attempts: Sequence[EndedAttempt]
    ) -> None:
        """Record attempts ``worker`` ended with ``outcome`` and no error (the SQL
        backend: one statement)."""
        ...

    def unblock(self, run_id: int, now: datetime) -> list[Job]:
        """Make ``available`` (due ``now``) the ``blocked`` jobs of the run whose needs
        are all done: every job of each step they need (a Map's has many) ``succeeded``
        or ``skipped``. Returns those jobs, as they are now."""
        ...

    def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        """Replace what a job was queued with (a Map's first job is given its item)."""
        ...

    def complete_runs(self, run_ids: Iterable[int], now: datetime) -> list[int]:
        """Mark ``succeeded`` (finished ``now``) the runs among ``run_ids`` whose step
        jobs are all done, succeeded or skipped (notification jobs do not count);
        returns those that were not succeeded already."""
        ...

    def supersede(self, run_ids: Iterable[int], claimed: Iterable[int], now: datetime) -> None:
        """End runs whose object version is gone: ``active`` ones become ``superseded``,
        and so do their jobs that wait (``blocked``, ``available``, ``retryable``) and
        those of them in ``claimed``; other running jobs finish as they will."""
        ...

    def set_run_state(self, run_id: int, state: RunState, now: datetime) -> bool:
        """Set a run's state (finished ``now``, or not finished if ``active``); returns
        whether it changed."""
        ...

    def redrive(self, where: JobFilter, attempts: Callable[[Job], int], now: datetime) -> int:
        """Make the ``dead`` jobs matching ``where`` (up to :data:`REDRIVE_LIMIT`; jobs in
        other states are left alone) ``available`` at ``now``, allowed ``attempts(job)``
        attempts more than they made; the runs of redriven step jobs that have no dead
        step job left become ``active`` again. Returns how many jobs were redriven."""
        ...

    # --- reading -----------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job | None:
        """One job (``None``: no such job)."""
        ...

    def lock_job(self, job_id: int) -> Job | None:
        """One job, its row locked until the transaction ends (``FOR UPDATE`` where
        the database has it; SQLite's writes take turns anyway)."""
        ...

    def get_run(self, run_id: int) -> Run | None:
        """One run (``None``: no such run)."""
        ...

    def runs_of(self, bucket: str, key: str, version_id: str | None = None) -> list[Run]:
        """Runs for a key (or one version of it), oldest first."""
        ...

    def jobs_of_runs(self, run_ids: Sequence[int]) -> list[Job]:
        """The jobs of these runs, by id."""
        ...

    def jobs_of_runs_folded(
        self, run_ids: Sequence[int], steps: Collection[str]
    ) -> tuple[list[Job], dict[tuple[int, str], int]]:
        """The jobs of these runs, by id, except the succeeded jobs of ``steps`` (Maps',
        which may be 100,000), and how many of those each (run, step) has."""
        ...

    def step_runs_of(self, job_ids: Sequence[int]) -> list[StepRun]:
        """The attempts of these jobs, in the order they were recorded."""
        ...

    def list_jobs(self, where: JobFilter, after_id: int | None, limit: int) -> list[Job]:
        """Up to ``limit`` jobs matching ``where``, newest (highest id) first, with ids
        below the cursor ``after_id`` if given."""
        ...

    def count_jobs(self, where: JobFilter) -> dict[JobState, int]:
        """How many jobs matching ``where`` are in each state (states with none are
        left out)."""
        ...
