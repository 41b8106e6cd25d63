"""Recording how attempts ended: the one place results reach the catalog.

Workers never write the catalog themselves. :meth:`Recorder.record` commits a batch of
:class:`~chute.jobs.Result` records in one transaction: outputs (as new versions in the
output bucket, with lineage), extracted metadata (on the source version, and in the step
run's report, where later steps' conditions read it), the step run, the job's new state,
the steps it unblocks, the run's end with its notifications, and the logs of the
functions the attempts invoked. A step its condition skipped is recorded like a success
without outputs, in the ``skipped`` state. A result is recorded only if its worker still
holds the job (the attempt number is a fencing token), so a worker that lost its lease
cannot record a second set of outputs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chute.blobs import BlobInfo, BlobKind, BlobRecord, StagedBlob, inline_info
from chute.catalog import Catalog, CatalogSession, NewVersion
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import ChuteError
from chute.events import EventName
from chute.functions.lineage import EVENT_CHAIN
from chute.hooks import Hooks, JobChange
from chute.jobs import Result, StagedOutput, staging_prefix
from chute.names import NULL_VERSION
from chute.objects.service import ObjectService
from chute.objects.writes import plain_etag
from chute.pipelines import maps
from chute.pipelines.destinations import InvocationRecords
from chute.pipelines.model import Pipeline
from chute.pipelines.notifications import queue_notifications
from chute.queue.lineage import LineageSession
from chute.queue.records import Job, JobRef, LineageRecord, Run
from chute.queue.retry import RetryPolicy
from chute.queue.states import JobKind, JobState, Outcome, RunState

log = logging.getLogger(__name__)

#: Blobs of a run's items released per statement when it succeeds.
RELEASE_BATCH = 500
#: Outcomes after which no further attempt is made, whatever the retry policy says.
PERMANENT = frozenset({Outcome.REJECTED})
#: Outcomes of attempts that ended without answering: what they staged is unrecorded.
UNANSWERED = frozenset({Outcome.TIMED_OUT, Outcome.OUT_OF_MEMORY, Outcome.CRASHED, Outcome.LOST})


class Recorder:
    """Commits results (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        objects: ObjectService,
        pipelines: Mapping[str, Pipeline],
        clock: Clock,
        hooks: Hooks,
        records: InvocationRecords | None = None,
    ) -> None:
        self.catalog = catalog
        self.objects = objects
        self.pipelines = pipelines
        self.clock = clock
        self.hooks = hooks
        #: Sends the records of ended asynchronous invocations to their destinations.
        self.records = records

    def record(self, results: list[Result], worker: str) -> None:
        """Commit a batch of results in one transaction; outputs of stale results are
        deleted. Observers hear of the jobs' new states once it has committed."""
        if not results:
            return
        changes: list[JobChange] = []

        def work(session: CatalogSession) -> list[BlobRecord]:
            changes.clear()  # a transaction that failed and ran again starts afresh
            return self.record_in(session, results, worker, changes)

        unused = self.catalog.run_write(work)
        self.objects.writes.free(unused)
        self.hooks.jobs_changed(changes)

    def record_in(
        self,
        session: CatalogSession,
        results: list[Result],
        worker: str,
        changes: list[JobChange],
    ) -> list[BlobRecord]:
        """Record ``results`` in the caller's transaction (see :meth:`record`); returns
        the blobs to free once it commits, and notes the jobs' new states in
        ``changes``."""
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
                unused += self._record_one(session, job, result, changes)
        unused += self._succeed_plain(session, worker, plain, changes)
        # A function ran whether or not its worker still holds the job: its log
        # stands either way.
        session.function_logs.add([log for r in results for log in r.function_logs])
        return unused

    def _succeed_plain(
        self,
        session: CatalogSession,
        worker: str,
        done: list[tuple[JobRef, Result]],
        changes: list[JobChange],
    ) -> list[BlobRecord]:
        """Record successes without outputs or metadata, a few statements for all;
        returns the blobs no longer used (see :meth:`_advance`)."""
        if not done:
            return []
        queue = session.queue
        moment = self.clock()
        succeeded = queue.succeed_held([ref.id for ref, _ in done], worker, moment)
        done = [(ref, result) for ref, result in done if ref.id in succeeded]
        queue.add_step_runs(
            worker,
            Outcome.SUCCEEDED,
            [(ref, r.started_at, r.ended_at, r.report) for ref, r in done],
        )
        if self.hooks.watch_jobs:
            changes += [change(ref, JobState.SUCCEEDED) for ref, _ in done]
        return self._advance(session, [ref for ref, _ in done], moment)

    def _record_one(
        self, session: CatalogSession, job: Job, result: Result, changes: list[JobChange]
    ) -> list[BlobRecord]:
        if result.outcome is Outcome.SKIPPED:
            unused = self._skip(session, job, result)
            changes.append(change(job, JobState.SKIPPED))
            return unused
        if result.outcome is not Outcome.SUCCEEDED:
            self.fail(session, job, result, changes)
            if result.outcome in UNANSWERED:
                # The attempt's process was killed: what it staged is known by prefix only.
                prefix = staging_prefix(job.id, job.claims)
                session.blobs.add_leftovers([prefix], result.started_at)
            return self._garbage(session, result.outputs)
        # Recording can be refused (a deleted output bucket, a value the database will
        # not take): in a savepoint, so the refusal fails this attempt alone and the rest
        # of the batch commits.
        try:
            with session.savepoint():
                unused = self._succeed(session, job, result)
        except Exception as exc:
            log.warning("recording job %d failed", job.id, exc_info=True)
            self.fail(session, job, _unrecordable(job, exc, self.clock()), changes)
            return self._garbage(session, result.outputs)
        changes.append(change(job, JobState.SUCCEEDED))
        return unused

    def _succeed(self, session: CatalogSession, job: Job, result: Result) -> list[BlobRecord]:
        queue = session.queue
        moment = self.clock()
        pipeline = self.pipelines.get(job.pipeline)
        run = None
        if result.outputs or result.metadata:
            run = queue.get_run(job.run_id)
        written: list[_Written] = []
        unused: list[BlobRecord] = []
        superseded: list[str] = []
        step = pipeline.steps.get(job.step) if pipeline is not None else None
        kept = step is not None and step.keeps_items and bool(result.outputs)
        if kept:
            self._keep_items(session, job, result.outputs, moment)
        elif run is not None and result.outputs:
            written, unused, superseded = self._write_outputs(
                session, job, run, pipeline, result.outputs
            )
        report = dict(result.report)
        if kept:
            report["items"] = len(result.outputs)
        if result.metadata:
            report["metadata"] = result.metadata
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
        return unused + self._advance(session, [job], moment)

    def _keep_items(
        self, session: CatalogSession, job: Job, outputs: list[StagedOutput], moment: datetime
    ) -> None:
        """Register the blobs of a job's outputs and keep them as items of its run."""
        staged = [_staged(output) for output in outputs]
        self.objects.writes.register_all(session, staged)
        kept = [
            dataclasses.replace(output, blob_id=blob.info.blob_id, data=None)
            for output, blob in zip(outputs, staged, strict=True)
        ]
        maps.keep(session, job, kept, moment)

    def _skip(self, session: CatalogSession, job: Job, result: Result) -> list[BlobRecord]:
        """Record a step its condition skipped: done, its reason as the attempt's error
        and the job's; the steps waiting for it may start."""
        queue = session.queue
        moment = self.clock()
        queue.add_step_run(
            job,
            Outcome.SKIPPED,
            started_at=result.started_at,
            ended_at=result.ended_at,
            error=result.error,
        )
        queue.finish(job, JobState.SKIPPED, moment, error=result.error)
        return self._advance(session, [job], moment)

    def _advance(
        self, session: CatalogSession, done: Sequence[Job | JobRef], moment: datetime
    ) -> list[BlobRecord]:
        """After jobs are done (succeeded or skipped): queue the next items of their Maps,
        start the steps waiting for them (expanding the Maps among those, see
        :mod:`chute.pipelines.maps`), end the runs they finished (queue those runs'
        success notifications, drop the items they kept). Returns the blobs of those
        items, to free once the transaction commits."""
        queue = session.queue
        steps = [job for job in done if job.kind == JobKind.STEP]
        self._refill(session, steps, moment)
        pipelines = {job.run_id: job.pipeline for job in steps}
        waiting = {job.run_id: job.pipeline for job in steps if self._needed(job)}
        while waiting:
            run_id, name = waiting.popitem()
            pipeline = self.pipelines.get(name)
            if pipeline is None:
                queue.unblock(run_id, moment)
            elif self._unblock(session, pipeline, run_id, moment):
                waiting[run_id] = name  # a Map without items is done: look again
        finished = queue.complete_runs(pipelines, moment)
        for run_id in finished:
            pipeline = self.pipelines.get(pipelines[run_id])
            if pipeline is not None and pipeline.notifications:
                run = queue.get_run(run_id)
                assert run is not None
                queue_notifications(queue, session.lineage, run, pipeline, "success", None, moment)
            if self.records is not None:
                self.records.succeeded(session, run_id, pipelines[run_id], moment)
        # Whatever the configuration says now: a run started by an older one may hold items.
        return self._drop_items(session, finished) if finished else []

    def _drop_items(self, session: CatalogSession, run_ids: list[int]) -> list[BlobRecord]:
        """Forget the items of succeeded runs; returns their store blobs, to free. Their
        blobs are released a batch at a time: a Map may have had 100,000 items."""
        blob_ids = session.items.drop(run_ids)
        freed = []
        for start in range(0, len(blob_ids), RELEASE_BATCH):
            freed += session.blobs.release(blob_ids[start : start + RELEASE_BATCH])
        return freed

    def _needed(self, job: Job | JobRef) -> bool:
        """Whether a step waits for ``job``'s (or its pipeline is gone: look anyway)."""
        pipeline = self.pipelines.get(job.pipeline)
        return pipeline is None or job.step in pipeline.needed

    def _refill(
        self, session: CatalogSession, done: Sequence[Job | JobRef], moment: datetime
    ) -> None:
        """Queue the next items of the Maps whose item jobs are among ``done``, one for
        each done (before the steps joining them are looked at: a Map with items left is
        never done)."""
        items = [job for job in done if maps.item_of(job) is not None]
        counts: Counter[tuple[int, str, str]] = Counter(
            (job.run_id, job.pipeline, job.step) for job in items
        )
        inherited = {(job.run_id, job.pipeline, job.step): job for job in items}
        for key, count in counts.items():
            run_id, name, step_name = key
            pipeline = self.pipelines.get(name)
            step = pipeline.steps.get(step_name) if pipeline is not None else None
            if step is not None and step.map_over is not None:
                carried = maps.inherited_payload(inherited[key])
                maps.refill(session, step, run_id, name, count, moment, carried)

    def _unblock(
        self, session: CatalogSession, pipeline: Pipeline, run_id: int, moment: datetime
    ) -> bool:
        """Start the run's steps whose needs are done, expanding the Maps among them;
        returns whether one of those had no item, and is done already."""
        emptied = False
        for ready in session.queue.unblock(run_id, moment):
            step = pipeline.steps.get(ready.step)
            if step is not None and step.map_over is not None:
                emptied = maps.expand(session, step, ready, moment) or emptied
        return emptied

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
        chain = int(job.payload.get(EVENT_CHAIN, 0))
        context = RequestContext.pipeline(job.pipeline, f"JOB{job.id:X}A{job.attempt}", chain)
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

    def fail(
        self, session: CatalogSession, job: Job, result: Result, changes: list[JobChange]
    ) -> None:
        """Record a failed attempt: the job retries after its backoff, or is dead (and its
        run with it, whose failure notifications are queued), or, if its run's object
        version is gone, superseded. Notes the job's new state in ``changes``."""
        queue = session.queue
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
        if self.source_gone(session, job):
            # Its object version was overwritten or deleted (the attempt may have failed
            # for that very reason): no retry, and not a dead letter either.
            queue.finish(
                job, JobState.SUPERSEDED, moment, error=error, traceback=result.traceback or ""
            )
            queue.supersede([job.run_id], [], moment)
            changes.append(change(job, JobState.SUPERSEDED))
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
            changes.append(change(job, JobState.RETRYABLE))
            return
        queue.finish(job, JobState.DEAD, moment, error=error, traceback=result.traceback or "")
        changes.append(change(job, JobState.DEAD))
        if job.kind == JobKind.STEP and queue.set_run_state(job.run_id, RunState.DEAD, moment):
            run = queue.get_run(job.run_id)
            assert run is not None
            queue_notifications(
                queue,
                session.lineage,
                run,
                self.pipelines.get(job.pipeline),
                "failure",
                f"step {job.step!r} is dead: {error}",
                moment,
            )
            if self.records is not None:
                self.records.failed(session, run, job, result.report, moment)

    def source_gone(self, session: CatalogSession, job: Job) -> bool:
        """Whether ``job`` reads an object version that is gone (its run is superseded,
        or will be when the job's attempt is recorded)."""
        return job.kind == JobKind.STEP and self._reads_source(job) and _source_gone(session, job)

    def _reads_source(self, job: Job) -> bool:
        """Whether the job's pipeline reads its object (a delivery tells of it only)."""
        pipeline = self.pipelines.get(job.pipeline)
        return pipeline is None or pipeline.reads_source

    def _policy(self, job: Job) -> RetryPolicy:
        pipeline = self.pipelines.get(job.pipeline)
        step = pipeline.step_of(job.kind, job.step, job.payload) if pipeline else None
        if step is None:
            return RetryPolicy(job.max_attempts, clock=self.clock)
        return dataclasses.replace(step.retry, max_attempts=job.max_attempts, clock=self.clock)


@dataclass(frozen=True, slots=True)
class _Written:
    bucket: str
    key: str
    version_id: str
    row: int
    size: int
    content_type: str


def _newer_source_wrote(lineage: LineageSession, run: Run, bucket: str, key: str) -> bool:
    """Whether output ``bucket/key`` was last written by a run of a newer version of
    ``run``'s source: a late run of an older version must not replace it."""
    if run.source_row is None:
        return False
    newest = lineage.newest_source(bucket, key)
    if newest is None or newest[:2] != (run.bucket, run.key) or newest[2] is None:
        return False
    return newest[2] > run.source_row


def _plain_success(result: Result) -> bool:
    return result.outcome is Outcome.SUCCEEDED and not result.outputs and not result.metadata


def _unrecordable(job: Job | JobRef, exc: Exception, moment: datetime) -> Result:
    """A failed attempt for a result that could not be recorded: permanent for a refusal
    (``ChuteError``), retryable otherwise."""
    if isinstance(exc, ChuteError):
        return refused(job, f"recording the outputs failed: {exc.message}", moment)
    error = f"recording the result failed: {type(exc).__name__}: {exc}"
    return Result(job.id, job.attempt, Outcome.FAILED, moment, moment, error=error)


def refused(job: Job | JobRef, reason: str, moment: datetime) -> Result:
    return Result(job.id, job.attempt, Outcome.REJECTED, moment, moment, error=reason)


def _staged(output: StagedOutput) -> StagedBlob:
    """An output as the object service registers it: inline bytes, or a store blob."""
    blob_id = output.blob_id or inline_info(output.data or b"").blob_id
    info = BlobInfo(blob_id, output.size, output.md5, output.sha256)
    return StagedBlob(info, output.data if output.blob_id is None else None)


def _source_gone(session: CatalogSession, job: Job) -> bool:
    """Whether the object version ``job``'s run processes is gone (its run superseded
    already, or the version overwritten or deleted since). A run a removal started has
    no version to lose."""
    run = session.queue.get_run(job.run_id)
    if run is None or run.state is RunState.SUPERSEDED:
        return run is not None
    return run.source_row is not None and not session.has_version_row(run.source_row)


def change(job: Job | JobRef, state: JobState) -> JobChange:
    """What observers hear of ``job`` moving to ``state``."""
    return JobChange(job.id, job.pipeline, job.step, state.value, job.attempt)
