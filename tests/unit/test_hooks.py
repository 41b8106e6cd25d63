"""Observers: told in the order they were added; one that fails after the fact is logged
and the others are still told, one that fails inside a transaction aborts it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from chute.catalog import Bucket, CatalogSession, EventRow, ObjectVersion, Versioning
from chute.context import RequestContext
from chute.hooks import Hooks, JobChange, Observer, RequestDone

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SESSION = cast(CatalogSession, object())  # the hooks only pass it on
EVENT = EventRow(
    1, T0, "ObjectCreated:Put", "us-east-1", "inbox", "a.jpg", "v1", 3, "e", "anonymous",
    "127.0.0.1", "R1",
)  # fmt: skip
VERSION = ObjectVersion(
    7, 1, "a.jpg", "v1", True, False, "0" * 32, 3, "e", "s", "image/jpeg", {}, T0
)
BUCKET = Bucket(1, "inbox", Versioning.UNVERSIONED, T0)
CHANGES = [JobChange(1, "thumbs", "small", "succeeded", 1)]
REQUEST = RequestDone("rest", "PutObject", 200, 0.01, RequestContext("anonymous", "127.0.0.1"))


class Boom(Exception):
    pass


class Recorder(Observer):
    """Writes down what it was told in ``seen``; raises ``Boom`` from ``failing`` methods."""

    def __init__(self, name: str, seen: list[tuple[str, str, Any]], *failing: str) -> None:
        self.name, self.seen, self.failing = name, seen, failing

    def _note(self, method: str, news: Any) -> None:
        self.seen.append((self.name, method, news))
        if method in self.failing:
            raise Boom(f"{self.name} failed")

    def object_changed(
        self, session: CatalogSession, event: EventRow, version: ObjectVersion, bucket: Bucket
    ) -> None:
        self._note("object_changed", (session, event, version, bucket))

    def jobs_changed(self, changes: Sequence[JobChange]) -> None:
        self._note("jobs_changed", changes)

    def request_done(self, request: RequestDone) -> None:
        self._note("request_done", request)


def _hooks(seen: list[tuple[str, str, Any]], *failing: str) -> Hooks:
    """Observers a, b and c; b raises from the ``failing`` methods."""
    hooks = Hooks([Recorder("a", seen), Recorder("b", seen, *failing)])
    hooks.add(Recorder("c", seen))
    return hooks


def test_observers_are_told_in_the_order_they_were_added() -> None:
    seen: list[tuple[str, str, Any]] = []
    hooks = _hooks(seen)
    hooks.object_changed(SESSION, EVENT, VERSION, BUCKET)
    hooks.jobs_changed(CHANGES)
    hooks.request_done(REQUEST)
    assert seen == [
        (name, method, news)
        for method, news in [
            ("object_changed", (SESSION, EVENT, VERSION, BUCKET)),
            ("jobs_changed", CHANGES),
            ("request_done", REQUEST),
        ]
        for name in "abc"
    ]
    assert seen[0][2][0] is SESSION
    assert seen[3][2] is CHANGES


def test_no_job_changes_tell_nobody() -> None:
    seen: list[tuple[str, str, Any]] = []
    _hooks(seen, "jobs_changed").jobs_changed([])
    assert seen == []


def test_the_default_observer_ignores_everything() -> None:
    hooks = Hooks([Observer()])
    hooks.object_changed(SESSION, EVENT, VERSION, BUCKET)
    hooks.jobs_changed(CHANGES)
    hooks.request_done(REQUEST)
    assert len(hooks.observers) == 1


@pytest.mark.parametrize(("method", "news"), [("jobs_changed", CHANGES), ("request_done", REQUEST)])
def test_an_observer_failing_after_the_fact_is_logged_and_the_others_still_told(
    method: str, news: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, Any]] = []
    hooks = _hooks(seen, method)
    with caplog.at_level(logging.ERROR, logger="chute.hooks"):
        getattr(hooks, method)(news)
    assert [(name, told) for name, told, _ in seen] == [(n, method) for n in "abc"]
    [record] = caplog.records
    assert record.name == "chute.hooks"
    assert record.levelno == logging.ERROR
    assert "observer" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)


def test_an_observer_failing_inside_the_transaction_aborts_it() -> None:
    """object_changed runs inside the change's transaction: the error goes to the caller,
    who rolls the change back, and the observers after it are not told."""
    seen: list[tuple[str, str, Any]] = []
    hooks = _hooks(seen, "object_changed")
    with pytest.raises(Boom, match="b failed"):
        hooks.object_changed(SESSION, EVENT, VERSION, BUCKET)
    assert [name for name, _, _ in seen] == ["a", "b"]


def test_hooks_know_whether_anyone_watches_jobs() -> None:
    class Quiet(Observer):
        pass

    class Watcher(Observer):
        def jobs_changed(self, changes: Sequence[JobChange]) -> None:
            pass

    hooks = Hooks([Quiet()])
    assert not hooks.watch_jobs  # claims and successes need not describe themselves
    hooks.add(Watcher())
    assert hooks.watch_jobs
