"""Retention keeps what the status of a live version needs: its outputs' lineage, its dead
letters, the run of a delete marker still latest; event cursors survive pruning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chute.clock import FakeClock
from chute.jobs import Result, StagedOutput
from chute.pipelines.retention import Retention
from chute.queue.records import JobFilter
from chute.queue.states import JobState, Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import RetentionSettings, load_settings
from tests.context import CTX

W = "w"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rt(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    steps = [{"name": "a", "processor": "noop", "retry": {"max_attempts": 1}}]
    pipelines = {"p": {"trigger": {"bucket": "inbox"}, "steps": steps}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    runtime = open_runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def _one(
    rt: Runtime,
    clock: FakeClock,
    outcome: Outcome = Outcome.SUCCEEDED,
    outputs: tuple[StagedOutput, ...] = (),
) -> None:
    (task,) = rt.broker.claim(W, 10, lease=30).tasks
    error = None if outcome is Outcome.SUCCEEDED else "boom"
    rt.broker.record(
        [
            Result(
                task.job_id,
                task.attempt,
                outcome,
                clock(),
                clock(),
                error=error,
                outputs=list(outputs),
            )
        ],
        W,
    )


def test_reprocess_in_flight_does_not_erase_the_outputs_lineage(rt, clock):
    retention = Retention(rt.catalog, RetentionSettings(runs_seconds=60), clock, "pruner")
    rt.objects.put(CTX, "inbox", "x", [b"hello"])
    out = StagedOutput("x.out", "text/plain", 2, "m", "s", data=b"hi")
    _one(rt, clock, outputs=(out,))
    clock.advance(3600)
    rt.control.reprocess(CTX, "p", "inbox", key="x")  # not run yet (or it dies)
    retention.prune()
    _one(rt, clock, Outcome.FAILED)  # the reprocess run dies
    status = rt.status.status(CTX, "inbox", "x")
    outputs = [o.key for v in status.runs for o in v.outputs]
    assert rt.objects.head(CTX, "processed", "x.out")  # the output is still there
    assert outputs == ["x.out"], (status.status, outputs)


def test_dead_letter_of_a_live_version_survives_a_reprocess(rt, clock):
    retention = Retention(rt.catalog, RetentionSettings(runs_seconds=60), clock, "pruner")
    rt.objects.put(CTX, "inbox", "x", [b"hello"])
    _one(rt, clock, Outcome.FAILED)  # dead letter
    clock.advance(3600)
    rt.control.reprocess(CTX, "p", "inbox", key="x")  # pending
    retention.prune()
    dead = rt.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs
    assert dead, "the live version's dead letter was pruned while its reprocess is pending"


def test_the_run_of_a_live_delete_marker_is_kept(catalog_url, tmp_path, clock):
    from chute.catalog import Versioning

    steps = [{"name": "a", "processor": "noop"}]
    trigger = {"bucket": "inbox", "events": ["ObjectRemoved:*"]}
    pipelines = {"p": {"trigger": trigger, "steps": steps}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    rt = open_runtime(settings, clock=clock)
    try:
        rt.objects.set_versioning(CTX, "inbox", Versioning.ENABLED)
        rt.objects.put(CTX, "inbox", "x", [b"hello"])
        rt.objects.delete(CTX, "inbox", "x")  # a delete marker: the live latest version
        _one(rt, clock)
        before = rt.status.status(CTX, "inbox", "x")
        clock.advance(3600)
        Retention(rt.catalog, RetentionSettings(runs_seconds=60), clock, "p").prune()
        after = rt.status.status(CTX, "inbox", "x")
        assert len(after.runs) == len(before.runs) == 1, (before.status, after.status)
    finally:
        rt.close()


def test_events_after_a_pruned_cursor(rt, clock):
    for i in range(5):
        rt.objects.put(CTX, "inbox", f"k{i}", [b"x"])
    cursor = rt.objects.events(CTX)[2].id
    clock.advance(10)
    rt.objects.put(CTX, "inbox", "late", [b"x"])
    Retention(rt.catalog, RetentionSettings(events_seconds=5), clock, "p").prune()
    after = rt.objects.events(CTX, cursor)
    assert [e.key for e in after] == ["late"]
