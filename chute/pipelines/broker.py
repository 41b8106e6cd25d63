"""The broker: hands jobs to the worker pool and takes their results back.

It implements :class:`chute.jobs.Broker`, all the pool knows of the queue: claims lease
ready jobs and describe them as :class:`~chute.jobs.Task` records (so a worker process
never queries the catalog), after evaluating the ``when`` condition of those steps that
have one (see :mod:`chute.pipelines.conditions`): a step whose condition is false is
settled as skipped without an attempt, one whose condition cannot be evaluated as
refused. Results go to the :class:`~chute.pipelines.recorder.Recorder`;
leases are renewed, released when a pool drains, and reaped when a worker died.
Observers hear of the jobs' new states after each transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from chute.blobs import BlobKind
from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock, system_clock
from chute.errors import ChuteError, ConditionError
from chute.hooks import Hooks, JobChange
from chute.jobs import (
    BatchLimit,
    Claimed,
    Result,
    SourceObject,
    SourceSegment,
    Task,
    TaskItem,
    staging_prefix,
)
from chute.objects.service import ObjectService
from chute.pipelines import maps
from chute.pipelines.conditions import Condition, condition_document
from chute.pipelines.destinations import InvocationRecords
from chute.pipelines.model import Pipeline, Step
from chute.pipelines.recorder import Recorder, change, refused
from chute.pipelines.tasks import QueueTasks, is_handed_over, timed_out
from chute.queue.records import ClaimSource, Job, JobRef, StepRun, StoredItem
from chute.queue.states import JobKind, JobState, Outcome

#: Times a job's lease may run out before its attempt was reported started without the
#: attempt counting (its worker died holding it in its buffer, most likely).
FREE_UNSTARTED_LOSSES = 1


class QueueBroker:
    """The pool's broker over Chute's job queue (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        objects: ObjectService,
        pipelines: Mapping[str, Pipeline],
        clock: Clock = system_clock,
        hooks: Hooks | None = None,
        records: InvocationRecords | None = None,
        on_message: Callable[[int], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.pipelines = pipelines
        self.clock = clock
        self.hooks = hooks or Hooks()
        self.recorder = Recorder(catalog, objects, pipelines, clock, self.hooks, records)
        #: Queue steps' jobs, handed to their queues' consumers, and their answers.
        self.tasks = QueueTasks(catalog, self.recorder, clock, on_message or (lambda _: None))

    @property
    def known_steps(self) -> list[tuple[str, str]]:
        """The (pipeline, step) pairs this process can run: a worker on an older or
        newer config than a job's leaves the job to workers that know it. Functions made
        through the Lambda API join as they are made."""
        return _known_steps(self.pipelines)

    # --- claiming ----------------------------------------------------------------------

    def claim(self, worker: str, limit: int, lease: float) -> Claimed:
        """Lease up to ``limit`` ready jobs to ``worker`` and describe them as tasks."""

        def work(session: CatalogSession) -> Claimed:
            queue = session.queue
            moment = self.clock()
            until = moment + timedelta(seconds=lease)
            jobs = queue.claim(worker, limit, until, moment, self.known_steps)
            return self._tasks(session, jobs, worker)

        claimed = self.catalog.run_claim(work)
        if self.hooks.watch_jobs:
            self.hooks.jobs_changed([_running(task) for task in claimed.tasks])
        return claimed

    def _tasks(self, session: CatalogSession, jobs: list[JobRef], worker: str) -> Claimed:
        tasks: list[Task] = []
        settled: list[Result] = []
        handed = 0
        if not jobs:
            return Claimed(tasks, settled)
        queue = session.queue
        sources = queue.run_sources({job.run_id for job in jobs})
        gone = {
            job.id: job
            for job in jobs
            if _source_gone(job, sources[job.run_id], self.pipelines.get(job.pipeline))
        }
        if gone:
            # Overwritten or deleted before its run finished: nothing left to process.
            runs = {job.run_id for job in gone.values()}
            queue.supersede(runs, list(gone), self.clock())
        decided = self._decide(session, [job for job in jobs if job.id not in gone], sources)
        items = self._items(session, jobs)
        segments: dict[str, tuple[SourceSegment, ...]] = {}
        for job in jobs:
            if job.id in gone:
                continue
            if job.id in decided:
                settled.append(decided[job.id])
                continue
            run = sources[job.run_id]
            step = self._queue_step(job)
            if step is not None:
                refusal = self.tasks.hand_over(session, job, step, run, worker)
                if refusal is None:
                    handed += 1
                else:
                    settled.append(_failed(job, refusal, self.clock()))
                continue
            blob_id = run.blob_id or ""
            try:
                if run.blob_kind is BlobKind.COMPOSITE and blob_id not in segments:
                    segments[blob_id] = _segments(session, blob_id)
                tasks.append(self._task(session, job, run, segments.get(blob_id, ()), items))
            except ChuteError as exc:
                settled.append(refused(job, exc.message, self.clock()))
        return Claimed(tasks, settled, handed)

    def _decide(
        self, session: CatalogSession, jobs: list[JobRef], sources: Mapping[int, ClaimSource]
    ) -> dict[int, Result]:
        """Evaluate the conditions of the claimed steps that have one: by job id, a
        skipped result for each whose condition is false, a refusal (the job dies with
        the reason) for each whose condition raised. Steps to run are left out."""
        guarded = [(job, when) for job in jobs if (when := self._condition(job)) is not None]
        if not guarded:
            return {}
        upstream = _upstream(session, self.pipelines, [job for job, _ in guarded])
        moment = self.clock()
        decided: dict[int, Result] = {}
        for job, when in guarded:
            document = condition_document(sources[job.run_id], upstream[job.id])
            try:
                if not when.holds(document):
                    decided[job.id] = _skipped(job, when.unmet, moment)
            except ConditionError as exc:
                decided[job.id] = refused(job, exc.message, moment)
        return decided

    def _items(self, session: CatalogSession, jobs: list[JobRef]) -> dict[int, StoredItem]:
        """By job id, the items the claimed jobs of Maps run on: one query per Map."""
        # Two Maps over one splitter may have jobs on the same item in one claim.
        wanted: dict[tuple[int, str], dict[int, list[int]]] = {}
        for job in jobs:
            pipeline = self.pipelines.get(job.pipeline)
            step = pipeline.steps.get(job.step) if pipeline is not None else None
            item = maps.item_of(job)
            if step is not None and step.map_over is not None and item is not None:
                wanted.setdefault((job.run_id, step.map_over), {}).setdefault(item, []).append(
                    job.id
                )
        found: dict[int, StoredItem] = {}
        for (run_id, step_name), by_item in wanted.items():
            for item, stored in session.items.chosen(run_id, step_name, list(by_item)).items():
                found.update((job_id, stored) for job_id in by_item[item])
        return found

    def _queue_step(self, job: JobRef) -> Step | None:
        """The step of ``job`` if an SQS queue's consumers do its work."""
        pipeline = self.pipelines.get(job.pipeline)
        step = pipeline.step_of(job.kind, job.step, job.payload) if pipeline else None
        return step if step is not None and step.queue is not None else None

    def _condition(self, job: JobRef) -> Condition | None:
        pipeline = self.pipelines.get(job.pipeline)
        step = pipeline.step_of(job.kind, job.step, job.payload) if pipeline else None
        return step.when if step is not None else None

    def _task(
        self,
        session: CatalogSession,
        job: JobRef,
        run: ClaimSource,
        segments: tuple[SourceSegment, ...],
        items: Mapping[int, StoredItem],
    ) -> Task:
        pipeline = self.pipelines.get(job.pipeline)
        if pipeline is None:
            raise ChuteError(f"pipeline {job.pipeline!r} is not configured any more")
        source, location, inline = _source(run) if pipeline.reads_source else _described(run)
        step = pipeline.step_of(job.kind, job.step, job.payload)
        if step is None:
            raise ChuteError(f"pipeline {job.pipeline!r} has no step {job.step!r} any more")
        if step.map_over is None and maps.item_of(job) is not None:
            raise ChuteError(f"step {job.step!r} is no Map any more: its item jobs cannot run")
        if step.map_over is not None and maps.item_of(job) is not None:
            # A Map's job runs on its item, as if the item were the object.
            stored = items.get(job.id)
            if stored is None:
                raise ChuteError(f"item {maps.item_of(job)} of step {step.map_over!r} is gone")
            source, location, inline = _item_source(run, stored)
            segments = ()
        joined = session.items.of_steps(job.run_id, step.joins) if step.joins else []
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
            claim=job.claim,
            segments=segments,
            items=tuple(_task_item(stored) for stored in joined),
            keeps_items=step.keeps_items,
        )

    # --- results -----------------------------------------------------------------------

    def record(self, results: list[Result], worker: str) -> None:
        """Commit a batch of results (see :meth:`Recorder.record`)."""
        self.recorder.record(results, worker)

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
            moment = self.clock()
            for task in tasks:
                job = queue.fenced(task.job_id, task.attempt, worker)
                if job is not None:
                    queue.release(job, moment)
            # An attempt killed at the end of a drain may have staged outputs; the next
            # claim stages under a prefix of its own, so this one's can be swept.
            prefixes = [staging_prefix(task.job_id, task.claim) for task in tasks]
            session.blobs.add_leftovers(prefixes, moment)

        if tasks:
            self.catalog.run_write(work)

    def reap(self) -> int:
        """Deal with jobs whose worker stopped renewing the lease (it died). A started
        attempt fails as lost: the job becomes retryable or dead like after any failed
        attempt. A job never started goes back to the queue, its attempt uncounted;
        but only :data:`FREE_UNSTARTED_LOSSES` times, since a job that kills its worker
        before the start is reported would otherwise come back forever."""

        changes: list[JobChange] = []

        def work(session: CatalogSession) -> int:
            changes.clear()
            queue = session.queue
            moment = self.clock()
            expired = queue.expired_leases(moment)
            for job in expired:
                if is_handed_over(job):  # no consumer of its queue answered in time
                    self.recorder.fail(session, job, timed_out(job, moment), changes)
                    continue
                # What the claim staged (its start may have gone unreported) goes, once
                # no step could still be writing it; dated when the attempt began, or
                # when it was claimed (the claim is the job's last update) if unreported.
                prefix = staging_prefix(job.id, job.claims)
                session.blobs.add_leftovers([prefix], job.started_at or job.updated_at)
                if job.started_at is None and job.unstarted_losses < FREE_UNSTARTED_LOSSES:
                    queue.release(job, moment, lost=True)
                    changes.append(change(job, JobState.AVAILABLE))
                    continue
                self.recorder.fail(session, job, _lost(job, moment), changes)
            return len(expired)

        reaped = self.catalog.run_write(work)
        self.hooks.jobs_changed(changes)
        return reaped

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


def _known_steps(pipelines: Mapping[str, Pipeline]) -> list[tuple[str, str]]:
    pairs = []
    for pipeline in pipelines.values():
        pairs += [(pipeline.name, step) for step in pipeline.steps]
        if pipeline.notifications:
            pairs += [(pipeline.name, "notify:success"), (pipeline.name, "notify:failure")]
    return pairs


def _upstream(
    session: CatalogSession, pipelines: Mapping[str, Pipeline], jobs: list[JobRef]
) -> dict[int, list[tuple[Job, StepRun | None]]]:
    """For each job, by id, the step jobs upstream of it in its run, with their last
    attempts (what its condition reads)."""
    queue = session.queue
    names = {job.id: pipelines[job.pipeline].upstream(job.step) for job in jobs}
    wanted = {(job.run_id, name) for job in jobs for name in names[job.id]}
    found = [
        other
        for other in queue.jobs_of_runs(sorted({job.run_id for job in jobs}))
        if other.kind == JobKind.STEP and (other.run_id, other.step) in wanted
    ]
    last = {attempt.job_id: attempt for attempt in queue.step_runs_of([j.id for j in found])}
    return {
        job.id: [
            (other, last.get(other.id))
            for other in found
            if other.run_id == job.run_id and other.step in names[job.id]
        ]
        for job in jobs
    }


def _skipped(job: JobRef, reason: str, moment: datetime) -> Result:
    return Result(job.id, job.attempt, Outcome.SKIPPED, moment, moment, error=reason)


def _source_gone(job: JobRef, run: ClaimSource, pipeline: Pipeline | None) -> bool:
    """Whether a step job's object version was overwritten or deleted since its run
    began. A run started by a removal never had bytes, and neither a notification about
    a run nor a delivery to a webhook target needs any."""
    if run.blob_id is not None or job.kind == JobKind.NOTIFY:
        return False
    if pipeline is not None and not pipeline.reads_source:
        return False
    return not str(run.event.get("eventName", "")).startswith("ObjectRemoved")


def _described(run: ClaimSource) -> tuple[SourceObject, None, bytes]:
    """The object a run is about, as far as its catalog row still says, without its
    bytes: all a delivery to a webhook target needs (a segmented version is fine)."""
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
    return source, None, b""


def _source(run: ClaimSource) -> tuple[SourceObject, str | None, bytes | None]:
    """What a run processes and where its bytes are: a blob, inline, or (a composite
    blob: neither) in segments. A run started by a removal has no bytes: the processor
    sees the event and an empty input."""
    if run.blob_id is None:
        return SourceObject(run.bucket, run.key, run.version_id, 0, "", "", ""), None, b""
    source, _, _ = _described(run)
    return source, run.location, run.inline


def _item_source(
    run: ClaimSource, stored: StoredItem
) -> tuple[SourceObject, str | None, bytes | None]:
    """What a Map's job on ``stored`` processes, and where its bytes are."""
    source = SourceObject(
        run.bucket,
        stored.key,
        run.version_id,
        stored.size,
        stored.md5,
        stored.sha256,
        stored.content_type,
        stored.metadata,
        stored.md5,
    )
    return source, stored.location, stored.inline


def _task_item(stored: StoredItem) -> TaskItem:
    return TaskItem(
        stored.key,
        stored.size,
        stored.content_type,
        stored.location,
        stored.inline,
        stored.metadata,
        stored.step,
    )


def _segments(session: CatalogSession, blob_id: str) -> tuple[SourceSegment, ...]:
    """Where each segment of a composite source is, for a worker process to read it
    without the catalog (segments are store or inline blobs: completion never nests
    composites)."""
    found = []
    for segment, record, data in session.blobs.segment_sources(blob_id):
        if record.kind is BlobKind.COMPOSITE:
            raise ChuteError(f"blob {blob_id} has a composite segment, which steps cannot read")
        found.append(SourceSegment(segment.blob_id, segment.size, record.location, data))
    return tuple(found)


def _failed(job: JobRef, reason: str, moment: datetime) -> Result:
    """A failed attempt that never ran (it may be retried)."""
    return Result(job.id, job.attempt, Outcome.FAILED, moment, moment, error=reason)


def _lost(job: Job, moment: datetime) -> Result:
    """The failed attempt of a job whose worker stopped renewing its lease."""
    error = f"worker {job.worker} stopped renewing its lease"
    if job.started_at is None:
        error += " before reporting the attempt started (it was lost that way before)"
    return Result(job.id, job.attempt, Outcome.LOST, job.started_at or moment, moment, error=error)


def _running(task: Task) -> JobChange:
    return JobChange(task.job_id, task.pipeline, task.step, JobState.RUNNING.value, task.attempt)
