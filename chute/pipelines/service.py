"""The pipeline service: hands jobs to workers and records how their attempts ended.

Workers never write the catalog themselves. They claim :class:`Task` records through
:meth:`PipelineService.claim` and give back :class:`Result` records, which
:meth:`PipelineService.record` commits in one transaction per batch: outputs (as new
versions in the output bucket, with lineage), extracted metadata, the step run, the job's
new state, the steps it unblocks and the run's end with its notifications. A result is
recorded only if its worker still holds the job (the attempt number is a fencing token),
so a worker that lost its lease cannot record a second set of outputs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chute.blobs import BlobInfo, BlobKind, BlobRecord, StagedBlob, inline_info
from chute.catalog import Catalog, CatalogSession, NewVersion
from chute.clock import Clock, system_clock
from chute.context import RequestContext
from chute.errors import ChuteError
from chute.events import EventName
from chute.jobs import (
    BatchLimit,
    Claimed,
    Result,
    SourceObject,
    StagedOutput,
    Task,
    staging_prefix,
)
from chute.names import NULL_VERSION
from chute.objects.service import ObjectService
from chute.objects.writes import plain_etag
from chute.pipelines.model import Pipeline
from chute.pipelines.notifications import queue_notifications
from chute.queue.lineage import LineageSession
from chute.queue.records import ClaimSource, Job, JobRef, LineageRecord, Run
from chute.queue.retry import RetryPolicy
from chute.queue.states import JobKind, JobState, Outcome, RunState
from chute.queue.store import QueueSession

log = logging.getLogger(__name__)

#: Outcomes after which no further attempt is made, whatever the retry policy says.
PERMANENT = frozenset({Outcome.REJECTED})
#: Outcomes of attempts that ended without answering: what they staged is unrecorded.
UNANSWERED = frozenset({Outcome.TIMED_OUT, Outcome.OUT_OF_MEMORY, Outcome.CRASHED, Outcome.LOST})
#: Times a job's lease may run out before its attempt was reported started without the
#: attempt counting (its worker died holding it in its buffer, most likely).
FREE_UNSTARTED_LOSSES = 1


class PipelineService:
    """Claims tasks for workers and records their results."""

    def __init__(
        self,
        catalog: Catalog,
        objects: ObjectService,
        pipelines: dict[str, Pipeline],
        clock: Clock = system_clock,
    ) -> None:
        self.catalog = catalog
        self.objects = objects
        self.pipelines = pipelines
        self.clock = clock
        #: The (pipeline, step) pairs this process can run: a worker on an older or newer
        #: config than a job's leaves the job to workers that know it.
        self.known_steps = _known_steps(pipelines)

    # --- claiming ----------------------------------------------------------------------

    def claim(self, worker: str, limit: int, lease: float) -> Claimed:
        """Lease up to ``limit`` ready jobs to ``worker`` and describe them as tasks."""

        def work(session: CatalogSession) -> Claimed:
            queue = session.queue
            moment = self.clock()
            until = moment + timedelta(seconds=lease)
            jobs = queue.claim(worker, limit, until, moment, self.known_steps)
            return self._tasks(queue, jobs)

        return self.catalog.run_claim(work)

    def _tasks(self, queue: QueueSession, jobs: list[JobRef]) -> Claimed:
        tasks: list[Task] = []
        failed: list[Result] = []
        if not jobs:
            return Claimed(tasks, failed)
        sources = queue.run_sources({job.run_id for job in jobs})
        gone = [job for job in jobs if _source_gone(job, sources[job.run_id])]
        if gone:
            # Overwritten or deleted before its run finished: nothing left to process.
            runs = {job.run_id for job in gone}
            queue.supersede(runs, [job.id for job in gone], self.clock())
        for job in jobs:
            if job in gone:
                continue
            try:
                tasks.append(self._task(job, sources[job.run_id]))
            except ChuteError as exc:
                failed.append(_refused(job, exc.message, self.clock()))
        return Claimed(tasks, failed)

    def _task(self, job: JobRef, run: ClaimSource) -> Task:
        pipeline = self.pipelines.get(job.pipeline)
        if pipeline is None:
            raise ChuteError(f"pipeline {job.pipeline!r} is not configured any more")
        source, location, inline = _source(run)
        step = pipeline.step_of(job.kind, job.step, job.payload)
        if step is None:
            raise ChuteError(f"pipeline {job.pipeline!r} has no step {job.step!r} any more")
        return Task(
            job.id,
            job.attempt,
            job.kind,
            job.pipeline,
            job.step,
            step.processor.name,
            step.raw_options,
            step.output_template,
            step.timeout_seconds,
            step.memory_mb,
            source,
            run.event_json,
            location,
            inline,
            payload=job.payload,
        )

    # --- recording -------------------------------------------------------------------

    def record(self, results: list[Result], worker: str) -> None:
        """Commit a batch of results; outputs of stale results are deleted."""
        if not results:
            return

        def work(session: CatalogSession) -> list[BlobRecord]:
            queue = session.queue
            held = queue.held([(r.job_id, r.attempt) for r in results], worker)
            unused: list[BlobRecord] = []
            plain: list[tuple[JobRef, Result]] = []
            for result in results:
                ref = held.get(result.job_id)
                if ref is None or ref.attempt != result.attempt:
                    # The lease was lost: another attempt owns the job now.
                    log.warning(
                        "dropping stale result of job %d attempt %d", result.job_id, result.attempt
                    )
                    unused += self._garbage(session, result.outputs)
                elif _plain_success(result):
                    plain.append((ref, result))
                else:
                    job = queue.get_job(ref.id)
                    assert job is not None
                    unused += self._record_one(session, queue, job, result)
            self._succeed_plain(queue, worker, plain)
            return unused

        unused = self.catalog.run_write(work)
        self.objects.writes.free(unused)

    def _succeed_plain(
        self, queue: QueueSession, worker: str, done: list[tuple[JobRef, Result]]
    ) -> None:
        """Record successes without outputs or metadata, a few statements for all."""
        if not done:
            return
        moment = self.clock()
        succeeded = queue.succeed_held([ref.id for ref, _ in done], worker, moment)
        done = [(ref, result) for ref, result in done if ref.id in succeeded]
        queue.add_step_runs(
            worker,
            Outcome.SUCCEEDED,
            [(ref, r.started_at, r.ended_at, r.report) for ref, r in done],
        )
        self._advance(queue, [ref for ref, _ in done], moment)

    def _record_one(
        self, session: CatalogSession, queue: QueueSession, job: Job, result: Result
    ) -> list[BlobRecord]:
        if result.outcome is not Outcome.SUCCEEDED:
            self._fail(queue, job, result)
            if result.outcome in UNANSWERED:
                # The attempt's process was killed: what it staged is known by prefix only.
                prefix = staging_prefix(job.id, job.attempt)
                session.blobs.add_leftovers([prefix], result.started_at)
            return self._garbage(session, result.outputs)
        # Recording can be refused (a deleted output bucket, a value the database will
        # not take): in a savepoint, so the refusal fails this attempt alone and the rest
        # of the batch commits. Plain SQL savepoints, as in the committer.
        session.conn.exec_driver_sql("SAVEPOINT chute_result")
        try:
            unused = self._succeed(session, queue, job, result)
        except Exception as exc:
            session.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT chute_result")
            log.warning("recording job %d failed", job.id, exc_info=True)
            self._fail(queue, job, _unrecordable(job, exc, self.clock()))
            unused = self._garbage(session, result.outputs)
        session.conn.exec_driver_sql("RELEASE SAVEPOINT chute_result")
        return unused

    def _succeed(
        self, session: CatalogSession, queue: QueueSession, job: Job, result: Result
    ) -> list[BlobRecord]:
        moment = self.clock()
        pipeline = self.pipelines.get(job.pipeline)
        run = None
        if result.outputs or result.metadata:
            run = queue.get_run(job.run_id)
        written: list[_Written] = []
        unused: list[BlobRecord] = []
        superseded: list[str] = []
        if run is not None and result.outputs:
            written, unused, superseded = self._write_outputs(
                session, job, run, pipeline, result.outputs
            )
        report = dict(result.report)
        if written:
            report["outputs"] = [output.key for output in written]
        if superseded:
            report["superseded"] = superseded
        step_run_id = queue.add_step_run(
            job,
            Outcome.SUCCEEDED,
            started_at=result.started_at,
            ended_at=result.ended_at,
            report=report,
        )
        session.lineage.add_lineage(
            [
                LineageRecord(
                    job.run_id,
                    job.id,
                    step_run_id,
                    job.step,
                    output.bucket,
                    output.key,
                    output.version_id,
                )
                for output in written
            ],
            [output.row for output in written],
        )
        if result.metadata and run is not None and run.source_row is not None:
            session.lineage.merge_object_metadata(run.source_row, result.metadata, moment)
        queue.finish(job, JobState.SUCCEEDED, moment)
        self._advance(queue, [job], moment)
        return unused

    def _advance(
        self, queue: QueueSession, succeeded: Sequence[Job | JobRef], moment: datetime
    ) -> None:
        """After jobs succeeded: start the steps waiting for them, end the runs they
        finished (and queue those runs' success notifications)."""
        steps = [job for job in succeeded if job.kind == JobKind.STEP]
        for job in steps:
            pipeline = self.pipelines.get(job.pipeline)
            if pipeline is None or job.step in pipeline.needed:
                queue.unblock(job.run_id, moment)
        pipelines = {job.run_id: job.pipeline for job in steps}
        for run_id in queue.complete_runs(pipelines, moment):
            pipeline = self.pipelines.get(pipelines[run_id])
            if pipeline is not None and pipeline.notifications:
                run = queue.get_run(run_id)
                assert run is not None
                queue_notifications(queue, run, pipeline, "success", None, moment)

    def _write_outputs(
        self,
        session: CatalogSession,
        job: Job,
        run: Run,
        pipeline: Pipeline | None,
        outputs: list[StagedOutput],
    ) -> tuple[list[_Written], list[BlobRecord], list[str]]:
        """Write a run's outputs as new versions; returns them, the blobs no longer used,
        and the keys left alone because a newer version of the source wrote them."""
        if pipeline is None:
            raise ChuteError(f"pipeline {job.pipeline!r} is not configured any more")
        context = RequestContext.pipeline(job.pipeline, f"JOB{job.id:X}A{job.attempt}")
        written: list[_Written] = []
        unused: list[BlobRecord] = []
        superseded: list[str] = []
        lineage = session.lineage
        writes = self.objects.writes
        for output in outputs:
            if _newer_source_wrote(lineage, run, pipeline.output_bucket, output.key):
                superseded.append(output.key)
                unused += self._garbage(session, [output])
                continue
            staged = _staged(output)
            writes.register(session, staged, reserved=False)
            new = NewVersion(
                output.key,
                NULL_VERSION,
                staged.info.blob_id,
                output.size,
                plain_etag(output.md5),
                output.sha256,
                output.content_type,
                dict(output.metadata),
            )
            version, freed = writes.write_version(
                session, pipeline.output_bucket, new, EventName.OBJECT_CREATED_PUT, context
            )
            written.append(
                _Written(
                    pipeline.output_bucket,
                    version.key,
                    version.version_id,
                    version.id,
                    version.size,
                    version.content_type,
                )
            )
            unused += freed
        return written, unused, superseded

    def _garbage(self, session: CatalogSession, outputs: list[StagedOutput]) -> list[BlobRecord]:
        """Register the store blobs of outputs that will not be recorded (unless they were,
        by a commit whose answer was lost), so that :meth:`Writes.free` deletes them after
        this transaction, or the sweep does if that fails."""
        staged = {o.blob_id for o in outputs if o.blob_id is not None}
        unknown = staged - session.blobs.known(staged)
        moment = self.clock()
        records = [
            BlobRecord(o.blob_id, BlobKind.STORE, o.size, o.md5, o.sha256, o.blob_id, moment)
            for o in outputs
            if o.blob_id in unknown
        ]
        session.blobs.add_many([(record, None) for record in records])
        return records

    def _fail(self, queue: QueueSession, job: Job, result: Result) -> None:
        moment = self.clock()
        policy = self._policy(job)
        decision = policy.decide(
            job.attempt, delay=result.retry_delay, permanent=result.outcome in PERMANENT
        )
        error = result.error or result.outcome.value
        queue.add_step_run(
            job,
            result.outcome,
            started_at=result.started_at,
            ended_at=result.ended_at,
            error=error,
            report=result.report,
        )
        if job.kind == JobKind.STEP and queue.run_state(job.run_id) is RunState.SUPERSEDED:
            # Its object version is gone: no retry, and not a dead letter either.
            ended = JobState.SUPERSEDED
            queue.finish(job, ended, moment, error=error, traceback=result.traceback or "")
            return
        if decision.run_at is not None:
            queue.finish(
                job,
                JobState.RETRYABLE,
                moment,
                run_at=decision.run_at,
                error=error,
                traceback=result.traceback or "",
            )
            return
        queue.finish(job, JobState.DEAD, moment, error=error, traceback=result.traceback or "")
        if job.kind == JobKind.STEP and queue.set_run_state(job.run_id, RunState.DEAD, moment):
            run = queue.get_run(job.run_id)
            assert run is not None
            queue_notifications(
                queue,
                run,
                self.pipelines.get(job.pipeline),
                "failure",
                f"step {job.step!r} is dead: {error}",
                moment,
            )

    def _policy(self, job: Job) -> RetryPolicy:
        pipeline = self.pipelines.get(job.pipeline)
        step = pipeline.step_of(job.kind, job.step, job.payload) if pipeline else None
        if step is None:
            return RetryPolicy(job.max_attempts, clock=self.clock)
        return dataclasses.replace(step.retry, max_attempts=job.max_attempts, clock=self.clock)

    # --- leases ------------------------------------------------------------------------

    def extend(
        self, worker: str, job_ids: list[int], lease: float, started: Sequence[int] = ()
    ) -> None:
        """Renew the leases of the jobs ``worker`` holds, and note which ones it has
        started (handed to a worker process)."""
        moment = self.clock()
        until = moment + timedelta(seconds=lease)

        def work(session: CatalogSession) -> None:
            session.queue.extend_leases(worker, job_ids, until)
            session.queue.mark_started(worker, started, moment)

        self.catalog.run_write(work)

    def release(self, tasks: list[Task], worker: str) -> None:
        """Give back claimed tasks a draining worker did not finish: their attempts do
        not count."""

        def work(session: CatalogSession) -> None:
            queue = session.queue
            for task in tasks:
                job = queue.fenced(task.job_id, task.attempt, worker)
                if job is not None:
                    queue.release(job, self.clock())

        if tasks:
            self.catalog.run_write(work)

    def reap(self) -> int:
        """Deal with jobs whose worker stopped renewing the lease (it died). A started
        attempt fails as lost: the job becomes retryable or dead like after any failed
        attempt. A job never started goes back to the queue, its attempt uncounted;
        but only :data:`FREE_UNSTARTED_LOSSES` times, since a job that kills its worker
        before the start is reported would otherwise come back forever."""

        def work(session: CatalogSession) -> int:
            queue = session.queue
            moment = self.clock()
            expired = queue.expired_leases(moment)
            for job in expired:
                if job.started_at is None and job.unstarted_losses < FREE_UNSTARTED_LOSSES:
                    # Nothing staged, and its next claim, at the same attempt number,
                    # stages under the same prefix: not a leftover.
                    queue.release(job, moment, lost=True)
                    continue
                self._fail(queue, job, _lost(job, moment))
                # dated when the attempt began (or was reported to), as its outputs may be
                prefix = staging_prefix(job.id, job.attempt)
                session.blobs.add_leftovers([prefix], job.started_at or moment)
            return len(expired)

        return self.catalog.run_write(work)

    def next_due(self) -> datetime | None:
        """When the earliest ready job is due."""
        with self.catalog.read() as session:
            return session.queue.next_due(self.clock(), self.known_steps)

    def seconds_until_due(self) -> float | None:
        """How long until the earliest waiting job is ready (``None``: none waits)."""
        due = self.next_due()
        return None if due is None else (due - self.clock()).total_seconds()

    def batch_limits(self) -> dict[tuple[str, str], BatchLimit]:
        """The steps whose processor takes batches, with their limits."""
        limits = {}
        for pipeline in self.pipelines.values():
            for step in pipeline.steps.values():
                batch = step.processor.batch
                if batch is not None:
                    limits[(pipeline.name, step.name)] = BatchLimit(
                        batch.size, batch.wait_ms / 1000
                    )
        return limits


@dataclass(frozen=True, slots=True)
class _Written:
    bucket: str
    key: str
    version_id: str
    row: int
    size: int
    content_type: str


def _known_steps(pipelines: dict[str, Pipeline]) -> list[tuple[str, str]]:
    pairs = []
    for pipeline in pipelines.values():
        pairs += [(pipeline.name, step) for step in pipeline.steps]
        if pipeline.notifications:
            pairs += [(pipeline.name, "notify:success"), (pipeline.name, "notify:failure")]
    return pairs


def _source_gone(job: JobRef, run: ClaimSource) -> bool:
    """Whether a step job's object version was overwritten or deleted since its run
    began. A run started by a removal never had bytes, and a notification about a run
    needs none."""
    if run.blob_id is not None or job.kind == JobKind.NOTIFY:
        return False
    return not str(run.event.get("eventName", "")).startswith("ObjectRemoved")


def _source(run: ClaimSource) -> tuple[SourceObject, str | None, bytes | None]:
    """What a run processes and where its bytes are: a blob, or inline. A run started by
    a removal has no bytes: the processor sees the event and an empty input."""
    if run.blob_id is None:
        return SourceObject(run.bucket, run.key, run.version_id, 0, "", "", ""), None, b""
    if run.blob_kind is BlobKind.COMPOSITE:
        raise ChuteError(
            f"{run.bucket}/{run.key} is stored in segments, which steps cannot read yet"
        )
    source = SourceObject(
        run.bucket,
        run.key,
        run.version_id,
        run.size or 0,
        run.etag or "",
        run.sha256 or "",
        run.content_type or "",
        run.user_metadata or {},
        run.md5 or "",
    )
    return source, run.location, run.inline


def _newer_source_wrote(lineage: LineageSession, run: Run, bucket: str, key: str) -> bool:
    """Whether output ``bucket/key`` was last written by a run of a newer version of
    ``run``'s source: a late run of an older version must not replace it."""
    if run.source_row is None:
        return False
    newest = lineage.newest_source(bucket, key)
    if newest is None or newest[:2] != (run.bucket, run.key) or newest[2] is None:
        return False
    return newest[2] > run.source_row


def _lost(job: Job, moment: datetime) -> Result:
    """The failed attempt of a job whose worker stopped renewing its lease."""
    error = f"worker {job.worker} stopped renewing its lease"
    if job.started_at is None:
        error += " before reporting the attempt started (it was lost that way before)"
    return Result(job.id, job.attempt, Outcome.LOST, job.started_at or moment, moment, error=error)


def _plain_success(result: Result) -> bool:
    return result.outcome is Outcome.SUCCEEDED and not result.outputs and not result.metadata


def _unrecordable(job: Job | JobRef, exc: Exception, moment: datetime) -> Result:
    """A failed attempt for a result that could not be recorded: permanent for a refusal
    (``ChuteError``), retryable otherwise."""
    if isinstance(exc, ChuteError):
        return _refused(job, f"recording the outputs failed: {exc.message}", moment)
    error = f"recording the result failed: {type(exc).__name__}: {exc}"
    return Result(job.id, job.attempt, Outcome.FAILED, moment, moment, error=error)


def _refused(job: Job | JobRef, reason: str, moment: datetime) -> Result:
    return Result(job.id, job.attempt, Outcome.REJECTED, moment, moment, error=reason)


def _staged(output: StagedOutput) -> StagedBlob:
    """An output as the object service registers it: inline bytes, or a store blob."""
    blob_id = output.blob_id or inline_info(output.data or b"").blob_id
    info = BlobInfo(blob_id, output.size, output.md5, output.sha256)
    return StagedBlob(info, output.data if output.blob_id is None else None)
