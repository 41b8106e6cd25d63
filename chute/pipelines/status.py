"""Processing status: what happened to an object, which jobs exist and how many. Only
reads; the operator's levers are in :mod:`chute.pipelines.control`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chute.access import Access
from chute.catalog import Catalog, CatalogSession, ObjectVersion
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    InvalidArgument,
    NoSuchJob,
    NoSuchKey,
    NoSuchVersion,
)
from chute.names import check_key
from chute.objects.buckets import require_bucket
from chute.pipelines.model import Pipeline
from chute.pipelines.router import Router
from chute.queue.base import JobQueue
from chute.queue.lineage import LineageSession
from chute.queue.records import Job, JobFilter, LineageRecord, Run, StepRun
from chute.queue.states import JobKind, JobState, ObjectStatus, RunState

#: Most jobs one listing page returns.
MAX_PAGE = 1000
_FIELD = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of jobs, newest first; ``next_cursor`` continues the listing."""

    jobs: list[Job]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with its jobs, their attempts and its outputs. The succeeded jobs of its
    Maps' items are counted by step (``folded``), not listed: there may be 100,000."""

    run: Run
    jobs: list[Job]
    attempts: dict[int, list[StepRun]]
    outputs: list[LineageRecord]
    folded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectProcessing:
    """An object version's processing status and everything behind it."""

    bucket: str
    key: str
    version_id: str
    status: ObjectStatus
    runs: list[RunView]
    metadata: dict[str, Any]


def object_status(runs: list[RunView]) -> ObjectStatus:
    """Fold the runs of one version into one status (see :class:`ObjectStatus`): the
    newest run of each pipeline counts, so a successful reprocess clears a dead run."""
    newest = {view.run.pipeline: view for view in sorted(runs, key=lambda v: v.run.id)}
    runs = list(newest.values())
    if not runs:
        return ObjectStatus.NONE
    states = {view.run.state for view in runs}
    if RunState.DEAD in states:
        return ObjectStatus.DEAD
    if states == {RunState.SUCCEEDED}:
        return ObjectStatus.SUCCEEDED
    if states <= {RunState.SUCCEEDED, RunState.SUPERSEDED}:
        return ObjectStatus.SUPERSEDED
    jobs = [
        job
        for view in runs
        if view.run.state is RunState.ACTIVE
        for job in view.jobs
        if job.kind == JobKind.STEP
    ]
    if any(job.state is JobState.RETRYABLE for job in jobs):
        return ObjectStatus.FAILED
    started = any(view.folded for view in runs if view.run.state is RunState.ACTIVE)
    if started or any(job.attempt > 0 for job in jobs):
        return ObjectStatus.PROCESSING
    return ObjectStatus.PENDING


class StatusService:
    """Reads processing state. Every call takes the context of who asked: reading an
    object's status, its jobs or its metadata needs read access to it."""

    def __init__(self, catalog: Catalog, pipelines: dict[str, Pipeline], router: Router) -> None:
        self.catalog = catalog
        self.pipelines = pipelines
        self.router = router

    def status(
        self, context: RequestContext, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectProcessing:
        """The processing status of a version (the latest by default)."""
        check_key(key)
        context.permissions.require(Access.READ, bucket, key)
        with self.catalog.read() as session:
            version = _version(session, bucket, key, version_id)
            queue = session.queue
            runs = queue.runs_of(bucket, key, version.version_id)
            runs = [run for run in runs if run.source_row in (None, version.id)]
            views = _views(queue, session.lineage, runs, self.pipelines)
            metadata = session.lineage.object_metadata(version.id) or {}
        return ObjectProcessing(
            bucket, key, version.version_id, object_status(views), views, metadata
        )

    def find(
        self,
        context: RequestContext,
        bucket: str,
        conditions: list[str],
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Live objects whose extracted metadata matches every ``path=value`` condition
        (``image.format=jpeg``, ``mime=text/csv``), in key order after ``after``."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE}")
        if not context.permissions.allows_listing(bucket, prefix):
            raise AccessDenied()
        parsed = [_condition(text) for text in conditions]
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            found = session.lineage
            return found.find_by_metadata(target.id, prefix, parsed, after, limit)

    def jobs(
        self, context: RequestContext, where: JobFilter, cursor: int | None = None, limit: int = 100
    ) -> JobPage:
        """A page of jobs matching ``where``, newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE}")
        require_over(context, Access.READ, where)
        with self.catalog.read() as session:
            jobs = session.queue.list_jobs(where, cursor, limit + 1)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        return JobPage(jobs, jobs[-1].id if more else None)

    def job(self, context: RequestContext, job_id: int) -> tuple[Job, list[StepRun]]:
        """One job and its attempts (to whom may read the object it is about; to others
        it does not exist)."""
        with self.catalog.read() as session:
            queue = session.queue
            job = queue.get_job(job_id)
            if job is None or not context.permissions.allows(Access.READ, job.bucket, job.key):
                raise NoSuchJob(f"no job {job_id}")
            return job, queue.step_runs_of([job_id])

    def counts(self, context: RequestContext, where: JobFilter) -> dict[JobState, int]:
        require_over(context, Access.READ, where)
        with self.catalog.read() as session:
            return session.queue.count_jobs(where)


def require_over(context: RequestContext, action: Access, where: JobFilter) -> None:
    """``AccessDenied`` unless ``context`` may do ``action`` on every object the jobs
    ``where`` selects could be about: its bucket (every bucket if none) under its key
    prefix (every key if none)."""
    if not context.permissions.allows(action, where.bucket, where.key_prefix or ""):
        raise AccessDenied()


def _condition(text: str) -> tuple[tuple[str, ...], str]:
    """``image.format=jpeg`` as ``(("image", "format"), "jpeg")``."""
    path, sep, value = text.partition("=")
    parts = tuple(path.split("."))
    if not sep or not all(_FIELD.fullmatch(part) for part in parts):
        raise InvalidArgument(f"{text!r} is not FIELD[.FIELD...]=VALUE")
    return parts, value


def _views(
    queue: JobQueue, lineage: LineageSession, runs: list[Run], pipelines: Mapping[str, Pipeline]
) -> list[RunView]:
    run_ids = [run.id for run in runs]
    maps = {
        step.name
        for run in runs
        if (pipeline := pipelines.get(run.pipeline)) is not None
        for step in pipeline.steps.values()
        if step.map_over is not None
    }
    jobs, folded = queue.jobs_of_runs_folded(run_ids, maps) if run_ids else ([], {})
    attempts: dict[int, list[StepRun]] = {}
    for attempt in queue.step_runs_of([job.id for job in jobs]) if jobs else []:
        attempts.setdefault(attempt.job_id, []).append(attempt)
    outputs = lineage.lineage_of_runs(run_ids) if run_ids else []
    return [
        RunView(
            run,
            [j for j in jobs if j.run_id == run.id],
            attempts,
            [o for o in outputs if o.run_id == run.id],
            {step: count for (run_id, step), count in folded.items() if run_id == run.id},
        )
        for run in runs
    ]


def _version(
    session: CatalogSession, bucket: str, key: str, version_id: str | None
) -> ObjectVersion:
    """The version whose status is asked for; a missing one is told apart from a missing
    key, as a GET of the object tells them apart."""
    target = require_bucket(session, bucket)
    if version_id is None:
        version = session.latest_version(target.id, key)
        if version is None:
            raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
        return version
    version = session.get_version(target.id, key, version_id)
    if version is None:
        raise NoSuchVersion(f"no version {version_id!r} of key {key!r}")
    return version
