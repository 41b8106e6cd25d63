"""Routing: an event starts the runs of every pipeline whose trigger it matches, and
whatever the rules of its bucket's notification configuration send it to.

The router is the first observer of the object service's changes (see
:mod:`chute.hooks`): it runs inside the transaction that records the event, so an
acknowledged upload always has its jobs (the transactional outbox).

A bucket notification rule (see :mod:`chute.pipelines.bucket_rules`) picks the bucket,
events and key prefix and suffix instead of a pipeline's trigger, which still gives
what the pipeline accepts (content type, size) and whether pipelines' own outputs start
it (``include_outputs``; never the pipeline's own, whatever rule names it). A rule naming
a webhook target gets every event it selects, outputs included: a delivery writes
nothing, so it cannot loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chute.catalog import Bucket, CatalogSession, EventRow, ObjectVersion
from chute.clock import Clock, system_clock
from chute.context import PIPELINE_PRINCIPAL
from chute.events import render
from chute.functions.lineage import EVENT_CHAIN, MAX_CHAIN, loop_stopped
from chute.functions.processor import FUNCTION_PROCESSOR
from chute.hooks import Observer
from chute.pipelines.bucket_rules import DestinationKind, NotificationRule, RuleCache
from chute.pipelines.deliveries import (
    S3_SENDER,
    S3_SERVICE,
    Delivery,
    configured,
    event_message,
    s3_may_invoke,
)
from chute.pipelines.functions import FunctionTarget
from chute.pipelines.model import Pipeline, Step
from chute.pipelines.notifications import queue_notifications
from chute.queue.records import NewJob, RunSource
from chute.queue.states import JobState, RunState
from chute.sqs.service import enqueue

log = logging.getLogger(__name__)


class Router(Observer):
    """Matches events to pipelines and bucket rules, and creates their runs."""

    def __init__(
        self,
        pipelines: dict[str, Pipeline],
        on_jobs: Callable[[], None],
        clock: Clock = system_clock,
        deliveries: Mapping[str, Delivery] | None = None,
        functions: Mapping[str, FunctionTarget] | None = None,
        on_message: Callable[[int], None] | None = None,
    ) -> None:
        self.pipelines = pipelines
        #: Webhook targets by name, which rules name as topics.
        self.deliveries = deliveries or {}
        #: Functions by name, which rules name by their Lambda ARNs.
        self.functions: Mapping[str, FunctionTarget] = functions or {}
        #: The queue's clock (the database server's, see ``chute.runtime``).
        self.clock = clock
        #: Wakes this process's workers (they claim in a later transaction, or in this
        #: one's group commit, so they never miss the new jobs).
        self.on_jobs = on_jobs
        #: Wakes receives waiting on an SQS queue (by its row id) given a message.
        self.on_message = on_message or (lambda queue_id: None)
        self.rules = RuleCache()

    def object_changed(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion, bucket: Bucket
    ) -> None:
        self.route(session, event, version, bucket)

    def route(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion, bucket: Bucket
    ) -> None:
        """Start every matching pipeline on ``version``, and what the bucket's rules name."""
        if version.is_delete_marker and not event.event_name.startswith("ObjectRemoved"):
            return
        started: set[str] = set()
        for pipeline in self.pipelines.values():
            if pipeline.matches(
                event.event_name,
                event.bucket,
                event.key,
                version.size,
                version.content_type,
                event.principal,
            ):
                self.start(session, pipeline, event, version)
                started.add(pipeline.name)
        queued = 0
        for rule in self.rules.matching(bucket, event.event_name, event.key):
            queued += self._follow(session, rule, event, version, started)
        if started or queued:
            self.on_jobs()

    def start(
        self,
        session: CatalogSession,
        pipeline: Pipeline,
        event: EventRow,
        version: ObjectVersion,
        rule: NotificationRule | None = None,
    ) -> int:
        """Create one run of ``pipeline`` on ``version`` (started by ``rule``, whose id
        its event record then carries, as S3's does); returns the run id."""
        record = render(event)
        source = _source(event, version, record if rule is None else configured(record, rule))
        # Its function steps are one deeper in the chain of invocations that made the change.
        chain = event.chain + 1
        jobs = [_new_job(step, event.chain) for step in pipeline.steps.values()]
        moment = self.clock()
        run_id = session.queue.create_run(pipeline.name, source, jobs, moment)
        if chain > MAX_CHAIN:
            invokes = [step.name for step in pipeline.steps.values() if _invokes(step)]
            if invokes:
                reason = loop_stopped(", ".join(invokes), chain)
                self._stop(session, pipeline, run_id, reason, moment)
        return run_id

    def _stop(
        self,
        session: CatalogSession,
        pipeline: Pipeline,
        run_id: int,
        reason: str,
        moment: datetime,
    ) -> None:
        """End a run before it starts (a recursive loop): its first steps dead with
        ``reason`` (the steps after them wait, so that a redrive runs them in order), the
        run dead, its failure notifications queued."""
        log.warning("%s (run %d)", reason, run_id)
        queue = session.queue
        for job in queue.jobs_of_runs([run_id]):
            if not job.needs:
                queue.finish(job, JobState.DEAD, moment, error=reason)
        if queue.set_run_state(run_id, RunState.DEAD, moment):
            run = queue.get_run(run_id)
            assert run is not None
            queue_notifications(queue, session.lineage, run, pipeline, "failure", reason, moment)

    def _follow(
        self,
        session: CatalogSession,
        rule: NotificationRule,
        event: EventRow,
        version: ObjectVersion,
        started: set[str],
    ) -> int:
        """Start what ``rule`` names for this event; returns how many runs it made."""
        if rule.kind is DestinationKind.FUNCTION:
            function = self.functions.get(rule.name)
            if function is not None:
                if not rule.trusted and not s3_may_invoke(session, rule.name, event.bucket):
                    log.warning(
                        "not invoking %s for s3://%s: its policy no longer lets %s invoke it",
                        rule.name,
                        event.bucket,
                        S3_SERVICE,
                    )
                    return 0
                self._invoke(session, function, rule, event, version)
                return 1
            pipeline = self.pipelines.get(rule.name)
            if pipeline is None or not _starts(pipeline, event, version, started):
                return 0
            self.start(session, pipeline, event, version, rule)
            started.add(pipeline.name)
            return 1
        if rule.kind is DestinationKind.TOPIC:
            delivery = self.deliveries.get(rule.name)
            if delivery is None:
                return 0
            self._deliver(session, delivery, rule, event, version)
            return 1
        self._enqueue(session, rule, event)
        return 0  # a message, not a run: no worker to wake

    def _enqueue(self, session: CatalogSession, rule: NotificationRule, event: EventRow) -> None:
        """Put the event's notification message on the SQS queue ``rule`` names."""
        body = json.dumps(event_message(render(event), rule))
        queue_id = enqueue(session, rule.name, body, self.clock(), S3_SENDER)
        if queue_id is not None:
            self.on_message(queue_id)

    def _deliver(
        self,
        session: CatalogSession,
        delivery: Delivery,
        rule: NotificationRule,
        event: EventRow,
        version: ObjectVersion,
    ) -> None:
        """Queue the event's notification message to a webhook target."""
        record = render(event)
        jobs = delivery.jobs(event_message(record, rule), f"event/{event.id}/{rule.id}")
        source = _source(event, version, configured(record, rule))
        session.queue.create_run(delivery.pipeline.name, source, jobs, self.clock())

    def _invoke(
        self,
        session: CatalogSession,
        function: FunctionTarget,
        rule: NotificationRule,
        event: EventRow,
        version: ObjectVersion,
    ) -> None:
        """Queue the function's invocation on the event, as S3 invokes Lambda: one
        deeper in the chain of invocations that made the change, or, past
        ``MAX_CHAIN``, stopped (its job dead with the reason, for a redrive to make)."""
        record = configured(render(event), rule)
        chain = event.chain + 1
        jobs = function.jobs({"Records": [record]}, chain=chain)
        source = _source(event, version, record)
        moment = self.clock()
        run_id = session.queue.create_run(function.pipeline.name, source, jobs, moment)
        if chain > MAX_CHAIN:
            reason = loop_stopped(function.function, chain)
            self._stop(session, function.pipeline, run_id, reason, moment)


def _starts(pipeline: Pipeline, event: EventRow, version: ObjectVersion, started: set[str]) -> bool:
    """Whether a rule naming ``pipeline`` starts it on this event: once per event, only on
    what it accepts, and never on a pipeline's output unless it takes them in (and never
    on its own)."""
    if pipeline.name in started:
        return False
    if pipeline.refuses_object(version.size, version.content_type) is not None:
        return False
    principal = event.principal
    if principal.startswith(PIPELINE_PRINCIPAL):
        own = principal == PIPELINE_PRINCIPAL + pipeline.name
        return pipeline.trigger.include_outputs and not own
    return True


def _source(event: EventRow, version: ObjectVersion, record: dict[str, Any]) -> RunSource:
    return RunSource(
        bucket=event.bucket,
        key=version.key,
        version_id=version.version_id,
        source_row=None if version.is_delete_marker else version.id,
        event=record,
    )


def _invokes(step: Step) -> bool:
    return step.processor.name == FUNCTION_PROCESSOR


def _new_job(step: Step, event_chain: int) -> NewJob:
    """A step's job. It carries the depth of the change that started its run in the
    chain of function invocations (``event_chain``), which its outputs' writes keep; a
    function step's invocation is one deeper (``chain``)."""
    payload: dict[str, int] = {EVENT_CHAIN: event_chain} if event_chain > 0 else {}
    if _invokes(step) and event_chain > 0:
        payload["chain"] = event_chain + 1
    return NewJob(
        step=step.name,
        max_attempts=step.retry.max_attempts,
        needs=list(step.needs),
        payload=payload,
    )
