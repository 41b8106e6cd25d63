"""Control: the operator's levers over processing. Redrive dead jobs with fresh
attempts; reprocess objects with a pipeline (one key, or a backfill of a prefix), within
what the pipeline's trigger matches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from chute.access import Access
from chute.catalog import Catalog, CatalogSession, EventRow, ObjectVersion
from chute.context import LOCAL_ADDRESS, RequestContext
from chute.errors import InvalidArgument, NoSuchKey, NoSuchPipeline
from chute.events import EventName
from chute.names import NULL_VERSION, after_prefix, check_bucket_name, check_key, check_prefix
from chute.objects.buckets import require_bucket
from chute.pipelines.model import Pipeline, TriggerCondition
from chute.pipelines.router import Router
from chute.pipelines.status import require_over
from chute.queue.records import Job, JobFilter
from chute.queue.states import JobState

#: Most objects one reprocess call starts runs for.
MAX_REPROCESS = 10_000
#: The principal of runs a reprocess starts (no event is logged for them).
REPROCESS_PRINCIPAL = "chute:reprocess"


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """What a reprocess did: the runs it started, one per object selected, and the
    objects under the prefix it skipped because the trigger does not match them."""

    runs: int
    skipped: int = 0


class ControlService:
    """Redrive and reprocess: changes an operator makes to what runs. Both need write
    access to every object they could start work on."""

    def __init__(
        self,
        catalog: Catalog,
        pipelines: dict[str, Pipeline],
        router: Router,
        runnable: Mapping[str, Pipeline] | None = None,
    ) -> None:
        self.catalog = catalog
        #: What may be reprocessed: the configured pipelines.
        self.pipelines = pipelines
        #: What may be redriven: those and the deliveries to webhook targets.
        self.runnable = runnable if runnable is not None else pipelines
        self.router = router

    def redrive(self, context: RequestContext, where: JobFilter) -> int:
        """Make dead jobs matching ``where`` available again, each with a fresh set of
        attempts; their runs become active again. Returns how many were redriven."""
        require_over(context, Access.WRITE, where)
        where = replace(where, states=(JobState.DEAD,))

        def work(session: CatalogSession) -> int:
            return session.queue.redrive(where, self._max_attempts, self.router.clock())

        count = self.catalog.run_write(work)
        if count:
            self.router.on_jobs()
        return count

    def _max_attempts(self, job: Job) -> int:
        """Fresh attempts for a redriven job: its step's (or notification's) setting."""
        pipeline = self.runnable.get(job.pipeline)
        if pipeline is None:
            return 1
        step = pipeline.step_of(job.kind, job.step, job.payload)
        return step.retry.max_attempts if step else 1

    def reprocess(
        self,
        context: RequestContext,
        pipeline_name: str,
        bucket: str,
        key: str | None = None,
        prefix: str | None = None,
    ) -> Reprocessed:
        """Start ``pipeline`` on one object (``key``) or on every live object under
        ``prefix`` that its trigger matches: a backfill after a pipeline changed. A key,
        bucket or prefix the trigger rules out is refused, naming the condition."""
        pipeline = self.pipelines.get(pipeline_name)
        if pipeline is None:
            raise NoSuchPipeline(f"no pipeline named {pipeline_name!r}")
        if (key is None) == (prefix is None):
            raise InvalidArgument("give either a key or a prefix")
        check_bucket_name(bucket)
        if key is not None:
            check_key(key)
        if prefix is not None:
            check_prefix(prefix)
        context.permissions.require(Access.WRITE, bucket, key if key is not None else prefix)

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
    version = session.latest_version(require_bucket(session, bucket).id, key)
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
    target = require_bucket(session, bucket)
    versions = session.list_latest(target.id, scan, after_prefix(scan), MAX_REPROCESS + 1)
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
        event_name=EventName.OBJECT_CREATED_PUT.value,
        region="",
        bucket=bucket,
        key=version.key,
        version_id=None if version.version_id == NULL_VERSION else version.version_id,
        size=version.size,
        etag=version.etag,
        principal=REPROCESS_PRINCIPAL,
        source_ip=LOCAL_ADDRESS,
        request_id="REPROCESS",
    )
