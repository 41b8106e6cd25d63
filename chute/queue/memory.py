"""The job queue in memory, for unit tests: real code, the same contract as the SQL
queue (both pass ``tests/integration/queue/test_conformance.py``).

What differs, since there is no database:

* No transactions: each call takes the queue's lock, changes what it changes, and is
  seen at once by every caller; nothing is rolled back when a caller's work fails.
* No catalog: :meth:`MemoryJobQueue.run_sources` returns what :meth:`create_run` was
  given (bucket, key, version, event), with every field of the source version and its
  blob ``None``, as the SQL queue does for a version that is gone.
* Jobs becoming ready are announced at once, by calling ``on_ready`` (the SQL queue
  notifies when its transaction commits, on PostgreSQL) and counting :attr:`notices`.
* Records are copies: changing one never changes the queue. JSON fields (events,
  payloads, reports) go through JSON on the way in, as a database column would.

It exposes what tests inspect: :meth:`dead_letters` and :attr:`notices`.

The module is a little over 500 lines because it is one concept, the whole of the
:class:`~chute.queue.base.JobQueue` protocol in one class; splitting it would scatter one
lock's invariants over several files.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chute.queue.base import REDRIVE_LIMIT, EndedAttempt, Steps, dead_among, stored_text
from chute.queue.records import ClaimSource, Job, JobFilter, JobRef, NewJob, Run, RunSource, StepRun
from chute.queue.states import (
    DONE_STATES,
    ENDED_STATES,
    READY_STATES,
    WAITING_STATES,
    JobKind,
    JobState,
    Outcome,
    RunState,
)


class MemoryJobQueue:
    """The :class:`~chute.queue.base.JobQueue` in dicts, behind one lock (see the module
    docstring)."""

    def __init__(self, on_ready: Callable[[], None] | None = None) -> None:
        #: Called (outside the lock) whenever jobs became ready.
        self.on_ready = on_ready
        #: How many times jobs became ready.
        self.notices = 0
        self._lock = threading.Lock()
        self._runs: dict[int, Run] = {}
        self._jobs: dict[int, Job] = {}
        self._step_runs: dict[int, StepRun] = {}
        self._run_ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._step_run_ids = itertools.count(1)

    # --- what tests inspect ------------------------------------------------------------

    def dead_letters(self) -> list[Job]:
        """The dead jobs, oldest first."""
        with self._lock:
            return [_copy(job) for job in self._sorted_jobs() if job.state is JobState.DEAD]

    # --- creating work -------------------------------------------------------------

    def create_run(
        self, pipeline: str, source: RunSource, new_jobs: Sequence[NewJob], now: datetime
    ) -> int:
        with self._lock:
            run_id = next(self._run_ids)
            run = Run(
                run_id,
                pipeline,
                source.bucket,
                source.key,
                source.version_id,
                source.source_row,
                _json(source.event),
                RunState.ACTIVE,
                _utc(now),
                None,
            )
            jobs = self._new_jobs(run_id, pipeline, source, new_jobs, now)
            self._runs[run_id] = run
            self._jobs.update((job.id, job) for job in jobs)
        self._announce(bool(jobs))
        return run_id

    def add_jobs(
        self,
        run_id: int,
        pipeline: str,
        source: RunSource,
        new_jobs: Sequence[NewJob],
        now: datetime,
    ) -> None:
        with self._lock:
            if run_id not in self._runs:
                raise KeyError(f"no run {run_id}")
            jobs = self._new_jobs(run_id, pipeline, source, new_jobs, now)
            self._jobs.update((job.id, job) for job in jobs)
        self._announce(bool(jobs))

    def _new_jobs(
        self,
        run_id: int,
        pipeline: str,
        source: RunSource,
        new_jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[Job]:
        """The jobs to add to a run (built whole before any is stored)."""
        moment = _utc(now)
        return [
            Job(
                next(self._job_ids),
                run_id,
                new.kind,
                pipeline,
                new.step,
                source.bucket,
                source.key,
                list(new.needs),
                _json(new.payload),
                JobState.BLOCKED if new.needs else JobState.AVAILABLE,
                0,
                new.max_attempts,
                moment,
                None,
                None,
                None,
                moment,
                moment,
                None,
                None,
                None,
            )
            for new in new_jobs
        ]

    # --- claiming and leases ---------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        lease_until: datetime,
        now: datetime,
        steps: Steps | None = None,
    ) -> list[JobRef]:
        moment, until = _utc(now), _utc(lease_until)
        with self._lock:
            due = [job for job in self._ready(steps) if job.run_at <= moment]
            due.sort(key=lambda job: (job.run_at, job.id))
            claimed = [
                self._update(
                    job,
                    state=JobState.RUNNING,
                    attempt=job.attempt + 1,
                    claims=job.claims + 1,
                    worker=worker,
                    lease_expires_at=until,
                    started_at=None,
                    updated_at=moment,
                )
                for job in due[: max(limit, 0)]
            ]
            return [_ref(job) for job in claimed]

    def run_sources(self, run_ids: Iterable[int]) -> dict[int, ClaimSource]:
        with self._lock:
            runs = [self._runs[run_id] for run_id in set(run_ids) if run_id in self._runs]
            return {run.id: _claim_source(run) for run in runs}

    def extend_leases(self, worker: str, job_ids: Sequence[int], until: datetime) -> int:
        moment = _utc(until)
        with self._lock:
            held = self._held_by(worker, job_ids)
            for job in held:
                self._update(job, lease_expires_at=moment)
            return len(held)

    def mark_started(self, worker: str, job_ids: Sequence[int], now: datetime) -> None:
        moment = _utc(now)
        with self._lock:
            for job in self._held_by(worker, job_ids):
                if job.started_at is None:
                    self._update(job, started_at=moment)

    def hand_over(
        self,
        job_id: int,
        worker: str,
        holder: str,
        until: datetime,
        now: datetime,
        payload: dict[str, Any],
    ) -> bool:
        with self._lock:
            held = self._held_by(worker, [job_id])
            for job in held:
                self._update(
                    job,
                    worker=holder,
                    lease_expires_at=_utc(until),
                    started_at=_utc(now),
                    payload=copy.deepcopy(payload),
                )
            return bool(held)

    def expired_leases(self, now: datetime, limit: int = 100) -> list[Job]:
        moment = _utc(now)
        with self._lock:
            expired = [
                job
                for job in self._jobs.values()
                if job.state is JobState.RUNNING
                and job.lease_expires_at is not None
                and job.lease_expires_at < moment
            ]
            expired.sort(key=lambda job: (job.lease_expires_at, job.id))
            return [_copy(job) for job in expired[: max(limit, 0)]]

    def fenced(self, job_id: int, attempt: int, worker: str) -> Job | None:
        with self._lock:
            held = self._held_by(worker, [job_id])
            return _copy(held[0]) if held and held[0].attempt == attempt else None

    def held(self, attempts: Sequence[tuple[int, int]], worker: str) -> dict[int, JobRef]:
        wanted = dict(attempts)
        with self._lock:
            held = self._held_by(worker, list(wanted))
            return {job.id: _ref(job) for job in held if job.attempt == wanted[job.id]}

    def next_due(self, now: datetime, steps: Steps | None = None) -> datetime | None:
        with self._lock:
            return min((job.run_at for job in self._ready(steps)), default=None)

    def release(self, job: Job, now: datetime, *, lost: bool = False) -> None:
        moment = _utc(now)
        with self._lock:
            current = self._jobs.get(job.id)
            if current is None or current.attempt != job.attempt:
                return
            losses = current.unstarted_losses + int(lost)
            self._end(
                current,
                JobState.AVAILABLE,
                moment,
                attempt=job.attempt - 1,
                started_at=None,
                unstarted_losses=losses,
            )
        self._announce(True)

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
        moment = _utc(now)
        due = _utc(run_at) if run_at is not None else job.run_at
        error = stored_text(error) if error is not None else job.last_error
        traceback = stored_text(traceback) if traceback is not None else job.last_traceback
        with self._lock:
            current = self._jobs.get(job.id)
            if current is not None:
                finished = moment if state in ENDED_STATES else None
                self._end(
                    current,
                    state,
                    moment,
                    run_at=due,
                    finished_at=finished,
                    last_error=error,
                    last_traceback=traceback,
                )
        self._announce(state in READY_STATES and run_at is not None and due <= moment)

    def succeed_held(self, job_ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        moment = _utc(now)
        with self._lock:
            held = self._held_by(worker, job_ids)
            for job in held:
                self._end(job, JobState.SUCCEEDED, moment, finished_at=moment)
            return {job.id for job in held}

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
        attempt = (_ref(job), started_at, ended_at, report or {})
        with self._lock:
            return self._add_step_runs(job.worker, outcome, [attempt], error)

    def add_step_runs(
        self, worker: str, outcome: Outcome, attempts: Sequence[EndedAttempt]
    ) -> None:
        with self._lock:
            self._add_step_runs(worker, outcome, attempts, None)

    def _add_step_runs(
        self,
        worker: str | None,
        outcome: Outcome,
        attempts: Sequence[EndedAttempt],
        error: str | None,
    ) -> int:
        """Record attempts; returns the last one's id."""
        text, step_run_id = stored_text(error), 0
        for ref, started, ended, report in attempts:
            step_run_id = next(self._step_run_ids)
            start, end = None if started is None else _utc(started), _utc(ended)
            self._step_runs[step_run_id] = StepRun(
                step_run_id, ref.id, ref.attempt, worker, outcome, start, end, text, _json(report)
            )
        return step_run_id

    def unblock(self, run_id: int, now: datetime) -> list[Job]:
        moment = _utc(now)
        with self._lock:
            run_jobs = [job for job in self._jobs.values() if job.run_id == run_id]
            undone = {job.step for job in run_jobs if job.state not in DONE_STATES}
            ready = [
                self._update(job, state=JobState.AVAILABLE, run_at=moment, updated_at=moment)
                for job in run_jobs
                if job.state is JobState.BLOCKED and not undone & set(job.needs)
            ]
        self._announce(bool(ready))
        return [_copy(job) for job in ready]

    def set_payload(self, job_id: int, payload: dict[str, Any]) -> None:
        with self._lock:
            self._update(self._jobs[job_id], payload=copy.deepcopy(payload))

    def complete_runs(self, run_ids: Iterable[int], now: datetime) -> list[int]:
        moment = _utc(now)
        with self._lock:
            candidates = [run_id for run_id in dict.fromkeys(run_ids) if run_id in self._runs]
            busy = {
                job.run_id
                for job in self._jobs.values()
                if job.kind == JobKind.STEP and job.state not in DONE_STATES
            }
            completed = []
            for run_id in candidates:
                run = self._runs[run_id]
                if run_id not in busy and run.state is not RunState.SUCCEEDED:
                    self._runs[run_id] = replace(run, state=RunState.SUCCEEDED, finished_at=moment)
                    completed.append(run_id)
            return completed

    def supersede(self, run_ids: Iterable[int], claimed: Iterable[int], now: datetime) -> None:
        moment = _utc(now)
        ids, held = set(run_ids), set(claimed)
        with self._lock:
            for run_id in ids & self._runs.keys():
                run = self._runs[run_id]
                if run.state is RunState.ACTIVE:
                    self._runs[run_id] = replace(run, state=RunState.SUPERSEDED, finished_at=moment)
            for job in list(self._jobs.values()):
                if job.run_id in ids and (job.state in WAITING_STATES or job.id in held):
                    self._end(job, JobState.SUPERSEDED, moment, finished_at=moment)

    def set_run_state(self, run_id: int, state: RunState, now: datetime) -> bool:
        moment = _utc(now)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state is state:
                return False
            finished = None if state is RunState.ACTIVE else moment
            self._runs[run_id] = replace(run, state=state, finished_at=finished)
            return True

    def redrive(self, where: JobFilter, attempts: Callable[[Job], int], now: datetime) -> int:
        moment = _utc(now)
        with self._lock:
            dead = self._list(dead_among(where), None, REDRIVE_LIMIT)
            for job in dead:
                self._update(
                    job,
                    state=JobState.AVAILABLE,
                    max_attempts=job.attempt + attempts(_copy(job)),
                    run_at=moment,
                    updated_at=moment,
                    finished_at=None,
                )
            still_dead = {
                job.run_id
                for job in self._jobs.values()
                if job.kind == JobKind.STEP and job.state is JobState.DEAD
            }
            for run_id in {job.run_id for job in dead if job.kind == JobKind.STEP}:
                run = self._runs.get(run_id)
                if run is not None and run_id not in still_dead:
                    self._runs[run_id] = replace(run, state=RunState.ACTIVE, finished_at=None)
        self._announce(bool(dead))
        return len(dead)

    # --- reading -----------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else _copy(job)

    def lock_job(self, job_id: int) -> Job | None:
        return self.get_job(job_id)

    def get_run(self, run_id: int) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else replace(run, event=copy.deepcopy(run.event))

    def runs_of(self, bucket: str, key: str, version_id: str | None = None) -> list[Run]:
        with self._lock:
            runs = [
                replace(run, event=copy.deepcopy(run.event))
                for _, run in sorted(self._runs.items())
                if (run.bucket, run.key) == (bucket, key) and version_id in (None, run.version_id)
            ]
        return runs

    def jobs_of_runs(self, run_ids: Sequence[int]) -> list[Job]:
        wanted = set(run_ids)
        with self._lock:
            return [_copy(job) for job in self._sorted_jobs() if job.run_id in wanted]

    def jobs_of_runs_folded(
        self, run_ids: Sequence[int], steps: Collection[str]
    ) -> tuple[list[Job], dict[tuple[int, str], int]]:
        listed, folded = [], Counter[tuple[int, str]]()
        for job in self.jobs_of_runs(run_ids):
            if job.step in steps and job.state is JobState.SUCCEEDED:
                folded[(job.run_id, job.step)] += 1
            else:
                listed.append(job)
        return listed, dict(folded)

    def step_runs_of(self, job_ids: Sequence[int]) -> list[StepRun]:
        wanted = set(job_ids)
        with self._lock:
            return [
                replace(step_run, report=copy.deepcopy(step_run.report))
                for _, step_run in sorted(self._step_runs.items())
                if step_run.job_id in wanted
            ]

    def list_jobs(self, where: JobFilter, after_id: int | None, limit: int) -> list[Job]:
        with self._lock:
            return [_copy(job) for job in self._list(where, after_id, limit)]

    def count_jobs(self, where: JobFilter) -> dict[JobState, int]:
        counts: dict[JobState, int] = {}
        with self._lock:
            for job in self._jobs.values():
                if where.matches(job):
                    counts[job.state] = counts.get(job.state, 0) + 1
        return counts

    # --- inside the lock -------------------------------------------------------------

    def _update(self, job: Job, **values: Any) -> Job:
        updated = replace(job, **values)
        self._jobs[job.id] = updated
        return updated

    def _end(self, job: Job, state: JobState, moment: datetime, **values: Any) -> None:
        """Move ``job`` to ``state`` at ``moment``, no longer leased to any worker."""
        self._update(
            job, state=state, worker=None, lease_expires_at=None, updated_at=moment, **values
        )

    def _held_by(self, worker: str, job_ids: Iterable[int]) -> list[Job]:
        """The running jobs among ``job_ids`` that ``worker`` holds, by id."""
        jobs = (self._jobs.get(job_id) for job_id in sorted(set(job_ids)))
        return [
            job
            for job in jobs
            if job is not None and job.state is JobState.RUNNING and job.worker == worker
        ]

    def _ready(self, steps: Steps | None) -> list[Job]:
        """The jobs that may be claimed once due (of ``steps``, if given)."""
        wanted = None if steps is None else set(steps)
        return [
            job
            for job in self._jobs.values()
            if job.state in READY_STATES and (wanted is None or (job.pipeline, job.step) in wanted)
        ]

    def _sorted_jobs(self) -> list[Job]:
        return [job for _, job in sorted(self._jobs.items())]

    def _list(self, where: JobFilter, after_id: int | None, limit: int) -> list[Job]:
        jobs = [
            job
            for job in reversed(self._sorted_jobs())
            if (after_id is None or job.id < after_id) and where.matches(job)
        ]
        return jobs[: max(limit, 0)]

    def _announce(self, ready: bool) -> None:
        """Tell waiting workers that jobs became ready (outside the lock)."""
        if not ready:
            return
        with self._lock:
            self.notices += 1
        if self.on_ready is not None:
            self.on_ready()


def _utc(moment: datetime) -> datetime:
    """A time as the catalog keeps it: aware, in UTC (naive times are refused)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the queue")
    return moment.astimezone(UTC)


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON object, as a JSON column would give it back."""
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def _copy(job: Job) -> Job:
    return replace(job, needs=list(job.needs), payload=copy.deepcopy(job.payload))


def _ref(job: Job) -> JobRef:
    payload = copy.deepcopy(job.payload)
    return JobRef(
        job.id, job.run_id, job.kind, job.pipeline, job.step, job.attempt, payload, job.claims
    )


def _claim_source(run: Run) -> ClaimSource:
    """What the run processes, without the catalog's version and blob (see the module
    docstring)."""
    event = json.dumps(run.event)
    nothing = (None,) * 10
    return ClaimSource(run.id, run.bucket, run.key, run.version_id, event, *nothing)
