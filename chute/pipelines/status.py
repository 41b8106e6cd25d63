"""Processing status and control: what happened to an object, which jobs exist, and
the operator's levers (redrive dead jobs, reprocess objects with a pipeline)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chute.catalog import Bucket, Catalog, CatalogSession, EventRow, ObjectVersion
from chute.errors import (
    InvalidArgument,
    NoSuchBucket,
    NoSuchJob,
    NoSuchKey,
    NoSuchPipeline,
    NoSuchVersion,
)
from chute.names import check_key
from chute.objects.listing import after_prefix
from chute.pipelines.model import Pipeline, TriggerCondition
from chute.pipelines.router import Router
from chute.queue.records import Job, JobFilter, LineageRecord, Run, StepRun
from chute.queue.states import JobKind, JobState, ObjectStatus, RunState
from chute.queue.store import QueueSession

#: Most jobs one listing page returns.
MAX_PAGE = 1000
_FIELD = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Most objects one reprocess call starts runs for.
MAX_REPROCESS = 10_000


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of jobs, newest first; ``next_cursor`` continues the listing."""

    jobs: list[Job]
    next_cursor: int | None


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """What a reprocess did: the runs it started, one per object selected, and the
    objects under the prefix it skipped because the trigger does not match them."""

    runs: int
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with its jobs, their attempts and its outputs."""

    run: Run
    jobs: list[Job]
    attempts: dict[int, list[StepRun]]
    outputs: list[LineageRecord]


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
    if any(job.attempt > 0 for job in jobs):
        return ObjectStatus.PROCESSING
    return ObjectStatus.PENDING


class StatusService:
    """Reads processing state, and redrives and reprocesses."""

    def __init__(self, catalog: Catalog, pipelines: dict[str, Pipeline], router: Router) -> None:
        self.catalog = catalog
        self.pipelines = pipelines
        self.router = router

    def status(self, bucket: str, key: str, version_id: str | None = None) -> ObjectProcessing:
        """The processing status of a version (the latest by default)."""
        check_key(key)
        with self.catalog.read() as session:
            version = _version(session, bucket, key, version_id)
            queue = session.queue
            runs = queue.runs_of(bucket, key, version.version_id)
            runs = [run for run in runs if run.source_row in (None, version.id)]
            views = _views(queue, runs)
            metadata = session.lineage.object_metadata(version.id) or {}
        return ObjectProcessing(
            bucket, key, version.version_id, object_status(views), views, metadata
        )

    def find(
        self,
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
        parsed = [_condition(text) for text in conditions]
        with self.catalog.read() as session:
            target = _bucket(session, bucket)
            found = session.lineage
            return found.find_by_metadata(target.id, prefix, parsed, after, limit)

    def jobs(self, where: JobFilter, cursor: int | None = None, limit: int = 100) -> JobPage:
        """A page of jobs matching ``where``, newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE}")
        with self.catalog.read() as session:
            jobs = session.queue.list_jobs(where, cursor, limit + 1)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        return JobPage(jobs, jobs[-1].id if more else None)

    def job(self, job_id: int) -> tuple[Job, list[StepRun]]:
        """One job and its attempts."""
        with self.catalog.read() as session:
            queue = session.queue
            job = queue.get_job(job_id)
            if job is None:
                raise NoSuchJob(f"no job {job_id}")
            return job, queue.step_runs_of([job_id])

    def counts(self, where: JobFilter) -> dict[JobState, int]:
        with self.catalog.read() as session:
            return session.queue.count_jobs(where)

    def redrive(self, where: JobFilter) -> int:
        """Make dead jobs matching ``where`` available again, each with a fresh set of
        attempts; their runs become active again. Returns how many were redriven."""
        where = JobFilter(
            states=(JobState.DEAD,),
            pipeline=where.pipeline,
            bucket=where.bucket,
            key_prefix=where.key_prefix,
            since=where.since,
            until=where.until,
            job_ids=where.job_ids,
        )

        def work(session: CatalogSession) -> int:
            return session.queue.redrive(where, self._max_attempts, self.router.clock())

        count = self.catalog.run_write(work)
        if count:
            self.router.on_jobs()
        return count

    def _max_attempts(self, job: Job) -> int:
        """Fresh attempts for a redriven job: its step's (or notification's) setting."""
        pipeline = self.pipelines.get(job.pipeline)
        if pipeline is None:
            return 1
        step = pipeline.step_of(job.kind, job.step, job.payload)
        return step.retry.max_attempts if step else 1

    def reprocess(
        self, pipeline_name: str, bucket: str, key: str | None = None, prefix: str | None = None
    ) -> Reprocessed:
        """Start ``pipeline`` on one object (``key``) or on every live object under
        ``prefix`` that its trigger matches: a backfill after a pipeline changed. A key,
        bucket or prefix the trigger rules out is refused, naming the condition."""
        pipeline = self.pipelines.get(pipeline_name)
        if pipeline is None:
            raise NoSuchPipeline(f"no pipeline named {pipeline_name!r}")
        if (key is None) == (prefix is None):
            raise InvalidArgument("give either a key or a prefix")

        def work(session: CatalogSession) -> Reprocessed:
            versions, skipped = _targets(session, pipeline, bucket, key, prefix)
            for version in versions:
                self.router.start(
                    session,
                    pipeline,
                    _reprocess_event(bucket, version, self.router.clock()),
                    version,
                )
            return Reprocessed(len(versions), skipped)

        done = self.catalog.run_write(work)
        if done.runs:
            self.router.on_jobs()
        return done


def _condition(text: str) -> tuple[tuple[str, ...], str]:
    """``image.format=jpeg`` as ``(("image", "format"), "jpeg")``."""
    path, sep, value = text.partition("=")
    parts = tuple(path.split("."))
    if not sep or not all(_FIELD.fullmatch(part) for part in parts):
        raise InvalidArgument(f"{text!r} is not FIELD[.FIELD...]=VALUE")
    return parts, value


def _views(queue: QueueSession, runs: list[Run]) -> list[RunView]:
    run_ids = [run.id for run in runs]
    jobs = queue.jobs_of_runs(run_ids) if run_ids else []
    attempts: dict[int, list[StepRun]] = {}
    for attempt in queue.step_runs_of([job.id for job in jobs]) if jobs else []:
        attempts.setdefault(attempt.job_id, []).append(attempt)
    outputs = queue.lineage.lineage_of_runs(run_ids) if run_ids else []
    return [
        RunView(
            run,
            [j for j in jobs if j.run_id == run.id],
            attempts,
            [o for o in outputs if o.run_id == run.id],
        )
        for run in runs
    ]


def _version(
    session: CatalogSession, bucket: str, key: str, version_id: str | None
) -> ObjectVersion:
    """The version whose status is asked for; a missing one is told apart from a missing
    key, as a GET of the object tells them apart."""
    target = _bucket(session, bucket)
    if version_id is None:
        version = session.latest_version(target.id, key)
        if version is None:
            raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
        return version
    version = session.get_version(target.id, key, version_id)
    if version is None:
        raise NoSuchVersion(f"no version {version_id!r} of key {key!r}")
    return version


def _bucket(session: CatalogSession, name: str) -> Bucket:
    bucket = session.get_bucket(name)
    if bucket is None:
        raise NoSuchBucket(f"no bucket {name!r}")
    return bucket


def _targets(
    session: CatalogSession, pipeline: Pipeline, bucket: str, key: str | None, prefix: str | None
) -> tuple[list[ObjectVersion], int]:
    """The versions to reprocess, and how many under ``prefix`` the trigger skipped."""
    if key is not None:
        return [_matching_version(session, pipeline, bucket, key)], 0
    assert prefix is not None
    return _backfill(session, pipeline, bucket, prefix)


def _matching_version(
    session: CatalogSession, pipeline: Pipeline, bucket: str, key: str
) -> ObjectVersion:
    """The latest version of ``key``, if it is live and the trigger matches it."""
    where = f"{bucket}/{key}"
    _check_place(pipeline, bucket, key, where)
    version = session.latest_version(_bucket(session, bucket).id, key)
    if version is None or version.is_delete_marker:
        raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
    condition = pipeline.refuses(bucket, key, version.size, version.content_type)
    if condition is not None:
        raise _refusal(pipeline, where, condition)
    return version


def _backfill(
    session: CatalogSession, pipeline: Pipeline, bucket: str, prefix: str
) -> tuple[list[ObjectVersion], int]:
    """The live versions under ``prefix`` the trigger matches, and how many it skipped.
    Only keys under the trigger's prefix too are read (and counted)."""
    wanted = pipeline.trigger.prefix
    scan = wanted if wanted.startswith(prefix) else prefix
    _check_place(pipeline, bucket, scan, f"{bucket}/{prefix}*")
    target = _bucket(session, bucket)
    versions = session.list_latest(target.id, scan, after_prefix(scan), True, MAX_REPROCESS + 1)
    if len(versions) > MAX_REPROCESS:
        raise InvalidArgument(
            f"more than {MAX_REPROCESS} objects under {scan!r}; reprocess narrower prefixes"
        )
    matching = [
        version
        for version in versions
        if pipeline.refuses(bucket, version.key, version.size, version.content_type) is None
    ]
    return matching, len(versions) - len(matching)


def _check_place(pipeline: Pipeline, bucket: str, key: str, where: str) -> None:
    """Refuse ``where`` when the trigger's bucket or prefix rules out ``bucket/key``."""
    condition = pipeline.refuses_place(bucket, key)
    if condition is not None:
        raise _refusal(pipeline, where, condition)


def _refusal(pipeline: Pipeline, where: str, condition: TriggerCondition) -> InvalidArgument:
    """Why ``pipeline`` does not run on ``where``, naming the trigger's setting."""
    wanted = getattr(pipeline.trigger, condition)
    return InvalidArgument(
        f"pipeline {pipeline.name!r} does not run on {where}: trigger.{condition} is {wanted!r}"
    )


def _reprocess_event(bucket: str, version: ObjectVersion, moment: datetime) -> EventRow:
    """A synthetic event record for a reprocess run (no event is logged)."""
    return EventRow(
        id=0,
        event_time=moment,
        event_name="ObjectCreated:Put",
        region="",
        bucket=bucket,
        key=version.key,
        version_id=None if version.version_id == "null" else version.version_id,
        size=version.size,
        etag=version.etag,
        principal="chute:reprocess",
        source_ip="127.0.0.1",
        request_id="REPROCESS",
    )
