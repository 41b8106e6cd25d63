"""Observers: code that watches what Chute does without being called by name.

An :class:`Observer` (dramatiq's middleware, in spirit) overrides the methods for what it
wants to see; :class:`Hooks` holds the list and tells each in turn. Services call the
hooks; metrics, the audit log and alarms attach here instead of inside the services.

* :meth:`Observer.object_changed` runs inside the transaction that records the change,
  so what it writes commits with the change or not at all (the pipeline router starts
  runs this way). Raising aborts the change.
* :meth:`Observer.jobs_changed` runs after a transaction that changed job states has
  committed.
* :meth:`Observer.request_done` runs after a front end answered a request.

Observers other than the router should be quick and must not raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from chute.catalog import Bucket, CatalogSession, EventRow, ObjectVersion
from chute.context import RequestContext

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JobChange:
    """A job moved to ``state`` (a :class:`chute.queue.states.JobState` value)."""

    job_id: int
    pipeline: str
    step: str
    state: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RequestDone:
    """A front end answered ``operation`` with ``status`` after ``seconds``."""

    api: str
    operation: str
    status: int
    seconds: float
    context: RequestContext


class Observer:
    """Sees what Chute does; override what you need (the defaults do nothing)."""

    def object_changed(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion, bucket: Bucket
    ) -> None:
        """An object changed; ``event`` is being recorded in ``session``'s transaction.
        ``bucket`` is the bucket as the write read it, in that transaction (with its
        notification configuration), so an observer need not query it again."""

    def jobs_changed(self, changes: Sequence[JobChange]) -> None:
        """Jobs changed state, and the change has committed."""

    def request_done(self, request: RequestDone) -> None:
        """A request was answered."""


class Hooks:
    """The observers of one runtime, told in the order they were added."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self.observers: list[Observer] = list(observers)

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)

    @property
    def watch_jobs(self) -> bool:
        """Whether some observer looks at job state changes: when none does, the hot
        paths (claims, plain successes) need not describe them at all."""
        return any(
            type(observer).jobs_changed is not Observer.jobs_changed for observer in self.observers
        )

    def object_changed(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion, bucket: Bucket
    ) -> None:
        for observer in self.observers:
            observer.object_changed(session, event, version, bucket)

    def jobs_changed(self, changes: Sequence[JobChange]) -> None:
        if changes:
            for observer in self.observers:
                _tell(observer.jobs_changed, changes)

    def request_done(self, request: RequestDone) -> None:
        for observer in self.observers:
            _tell(observer.request_done, request)


def _tell(method: Callable[[T], None], news: T) -> None:
    """Tell one observer of something that has happened already: its failure is logged,
    never passed on to the work it watched."""
    try:
        method(news)
    except Exception:
        log.exception("observer %r failed", method)
