"""Routing: an event starts the runs of every pipeline whose trigger it matches.

The router is the first observer of the object service's changes (see
:mod:`chute.hooks`): it runs inside the transaction that records the event, so an
acknowledged upload always has its jobs (the transactional outbox).
"""

from __future__ import annotations

from collections.abc import Callable

from chute.catalog import CatalogSession, EventRow, ObjectVersion
from chute.clock import Clock, system_clock
from chute.events import render
from chute.hooks import Observer
from chute.pipelines.model import Pipeline, Step
from chute.queue.records import NewJob, RunSource


class Router(Observer):
    """Matches events to pipelines and creates their runs."""

    def __init__(
        self,
        pipelines: dict[str, Pipeline],
        on_jobs: Callable[[], None],
        clock: Clock = system_clock,
    ) -> None:
        self.pipelines = pipelines
        #: The queue's clock (the database server's, see ``chute.runtime``).
        self.clock = clock
        #: Wakes this process's workers (they claim in a later transaction, or in this
        #: one's group commit, so they never miss the new jobs).
        self.on_jobs = on_jobs

    def object_changed(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion
    ) -> None:
        self.route(session, event, version)

    def route(self, session: CatalogSession, event: EventRow, version: ObjectVersion) -> None:
        """Start every matching pipeline on ``version``."""
        if version.is_delete_marker and not event.event_name.startswith("ObjectRemoved"):
            return
        started = 0
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
                started += 1
        if started:
            self.on_jobs()

    def start(
        self,
        session: CatalogSession,
        pipeline: Pipeline,
        event: EventRow,
        version: ObjectVersion,
    ) -> int:
        """Create one run of ``pipeline`` on ``version``; returns the run id."""
        source = RunSource(
            bucket=event.bucket,
            key=version.key,
            version_id=version.version_id,
            source_row=None if version.is_delete_marker else version.id,
            event=render(event),
        )
        jobs = [_new_job(step) for step in pipeline.steps.values()]
        return session.queue.create_run(pipeline.name, source, jobs, self.clock())


def _new_job(step: Step) -> NewJob:
    return NewJob(step=step.name, max_attempts=step.retry.max_attempts, needs=list(step.needs))
