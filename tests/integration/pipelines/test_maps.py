"""Map steps over SQLite and PostgreSQL, with the test as the worker: a splitter's outputs
become items of the run (not objects), the Map runs one job per item with at most
``max_concurrency`` queued at a time, a failed item retries alone, and the joining step
gets every item's results in order; the items and their blobs go once the run succeeds.
An empty Map succeeds at once, and its join gets no item."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.blobs import Digests
from chute.clock import FakeClock
from chute.jobs import Result, StagedOutput, Task
from chute.queue.states import ObjectStatus, Outcome, RunState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

WORKER = "test-worker"

STEPS = [
    {"name": "split", "processor": "noop"},
    {"name": "each", "processor": "noop", "map": "split", "max_concurrency": 2},
    {"name": "join", "processor": "noop", "needs": ["each"]},
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    pipelines = {"chunks": {"trigger": {"bucket": "inbox"}, "steps": STEPS}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    rt = open_runtime(settings, clock=clock)
    yield rt
    rt.close()


def _claim(rt: Runtime, limit: int = 10) -> list[Task]:
    claimed = rt.broker.claim(WORKER, limit, lease=30)
    rt.broker.record(claimed.settled, WORKER)
    return claimed.tasks


def _output(key: str, data: bytes) -> StagedOutput:
    info = Digests(data).info("")
    return StagedOutput(key, "text/plain", info.size, info.md5, info.sha256, data=data)


def _ok(task: Task, clock: FakeClock, *outputs: StagedOutput) -> Result:
    return Result(
        task.job_id, task.attempt, Outcome.SUCCEEDED, clock(), clock(), outputs=list(outputs)
    )


def _failed(task: Task, clock: FakeClock) -> Result:
    return Result(task.job_id, task.attempt, Outcome.FAILED, clock(), clock(), error="boom")


def _item(task: Task) -> Any:
    return task.payload.get("item")


def test_a_map_runs_each_item_alone_and_its_join_gets_the_results_in_order(runtime, clock):
    runtime.objects.put(CTX, "inbox", "data.csv", [b"a,b\n1,2\n"])
    (split,) = _claim(runtime)
    assert split.keeps_items
    parts = [_output(f"data.csv.parts/{i}.csv", f"chunk {i}".encode()) for i in range(5)]
    runtime.broker.record([_ok(split, clock, *parts)], WORKER)

    # Two of the five items at a time: the Map's max_concurrency.
    first = _claim(runtime)
    assert sorted(_item(task) for task in first) == [0, 1]
    assert {task.step for task in first} == {"each"}
    by_item = {_item(task): task for task in first}
    # A Map's job runs on its item as if it were the object.
    assert by_item[1].source.key == "data.csv.parts/1.csv"
    assert by_item[1].source.size == len(b"chunk 1")
    assert (by_item[1].location, by_item[1].inline) == (None, b"chunk 1")
    assert by_item[1].keeps_items  # a step joins it: its results are items too

    runtime.broker.record(
        [_ok(by_item[0], clock, _output("r0", b"result 0")), _failed(by_item[1], clock)], WORKER
    )
    (second,) = _claim(runtime)  # item 2 took item 0's place; item 1 waits for its retry
    assert _item(second) == 2
    clock.advance(60)
    retried = {_item(task): task for task in _claim(runtime)}
    assert list(retried) == [1]
    assert retried[1].attempt == 2  # retried alone
    runtime.broker.record([_ok(retried[1], clock, _output("r1", b"result 1"))], WORKER)
    runtime.broker.record([_ok(second, clock, _output("r2", b"result 2"))], WORKER)
    rest = _claim(runtime)
    assert sorted(_item(task) for task in rest) == [3, 4]
    # Results recorded in any order are joined in the order of their items.
    for task in reversed(rest):
        data = f"result {_item(task)}".encode()
        runtime.broker.record([_ok(task, clock, _output(f"r{_item(task)}", data))], WORKER)

    (join,) = _claim(runtime)
    assert join.step == "join"
    assert join.source.key == "data.csv"
    assert [item.inline for item in join.items] == [f"result {i}".encode() for i in range(5)]
    assert [item.key for item in join.items] == [f"r{i}" for i in range(5)]
    assert not join.keeps_items
    runtime.broker.record([_ok(join, clock, _output("data.parquet", b"joined"))], WORKER)

    found = runtime.status.status(CTX, "inbox", "data.csv")
    assert found.status is ObjectStatus.SUCCEEDED
    (view,) = found.runs
    assert view.run.state is RunState.SUCCEEDED
    # The Map's succeeded item jobs are counted, not listed.
    assert [job.step for job in view.jobs] == ["split", "join"]
    assert view.folded == {"each": 5}
    # Only the join's output is an object; the items are gone with their blobs.
    listed = runtime.objects.list_objects(CTX, "processed")
    assert [entry.key for entry in listed.objects] == ["data.parquet"]
    with runtime.catalog.read() as session:
        assert session.items.of_steps(view.run.id, ["split", "each"]) == []


def test_two_maps_over_one_splitter_each_run_every_item(catalog_url, tmp_path, clock):
    steps = [
        {"name": "split", "processor": "noop"},
        {"name": "a", "processor": "noop", "map": "split"},
        {"name": "b", "processor": "noop", "map": "split"},
        {"name": "both", "processor": "noop", "needs": ["a", "b"]},
    ]
    pipelines = {"two": {"trigger": {"bucket": "inbox"}, "steps": steps}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    runtime = open_runtime(settings, clock=clock)
    try:
        runtime.objects.put(CTX, "inbox", "x.csv", [b"x"])
        (split,) = _claim(runtime)
        runtime.broker.record([_ok(split, clock, _output("p0", b"0"), _output("p1", b"1"))], WORKER)
        tasks = _claim(runtime)  # item 0 and 1 of both Maps, in one claim
        assert sorted((task.step, task.inline) for task in tasks) == [
            ("a", b"0"), ("a", b"1"), ("b", b"0"), ("b", b"1"),
        ]  # fmt: skip
        runtime.broker.record(
            [_ok(task, clock, _output(f"{task.step}{task.inline!r}", b"r")) for task in tasks],
            WORKER,
        )
        # The step joining both Maps gets each one's results, and can tell them apart.
        (both,) = _claim(runtime)
        assert [(item.step, item.key) for item in both.items] == [
            ("a", "ab'0'"), ("a", "ab'1'"), ("b", "bb'0'"), ("b", "bb'1'"),
        ]  # fmt: skip
        runtime.broker.record([_ok(both, clock)], WORKER)
        assert runtime.status.status(CTX, "inbox", "x.csv").status is ObjectStatus.SUCCEEDED
    finally:
        runtime.close()


def test_an_overwritten_source_supersedes_the_map_and_drops_its_items(runtime, clock):
    runtime.objects.put(CTX, "inbox", "x.csv", [b"first"])
    (split,) = _claim(runtime)
    parts = [_output(f"p{i}", bytes([i])) for i in range(4)]
    runtime.broker.record([_ok(split, clock, *parts)], WORKER)
    first = _claim(runtime, limit=1)
    run_id = runtime.status.status(CTX, "inbox", "x.csv").runs[0].run.id
    runtime.objects.put(CTX, "inbox", "x.csv", [b"second"])  # the Map's object is gone
    runtime.broker.record([_ok(task, clock) for task in first], WORKER)
    # The next claim finds the old run's object gone: its items' jobs end with it.
    (fresh,) = _claim(runtime)
    assert (fresh.step, fresh.source.size) == ("split", len(b"second"))
    with runtime.catalog.read() as session:
        assert session.queue.get_run(run_id).state is RunState.SUPERSEDED
        assert session.items.count(run_id, "split") == 0
        unfinished = [
            job.step for job in session.queue.jobs_of_runs([run_id]) if job.finished_at is None
        ]
    assert unfinished == []  # no item queued after the run ended


def test_an_empty_map_succeeds_and_its_join_gets_no_item(runtime, clock):
    runtime.objects.put(CTX, "inbox", "empty.csv", [b"a,b\n"])
    (split,) = _claim(runtime)
    runtime.broker.record([_ok(split, clock)], WORKER)
    (join,) = _claim(runtime)
    assert (join.step, join.items) == ("join", ())
    runtime.broker.record([_ok(join, clock)], WORKER)
    assert runtime.status.status(CTX, "inbox", "empty.csv").status is ObjectStatus.SUCCEEDED


def test_a_dead_item_kills_the_run_and_a_redrive_takes_the_map_on(runtime, clock):
    runtime.objects.put(CTX, "inbox", "x.csv", [b"x"])
    (split,) = _claim(runtime)
    runtime.broker.record([_ok(split, clock, _output("p0", b"0"), _output("p1", b"1"))], WORKER)
    first = {_item(task): task for task in _claim(runtime)}
    runtime.broker.record([_ok(first[0], clock, _output("r0", b"r0"))], WORKER)
    rejected = Result(
        first[1].job_id, first[1].attempt, Outcome.REJECTED, clock(), clock(), error="bad"
    )
    runtime.broker.record([rejected], WORKER)
    found = runtime.status.status(CTX, "inbox", "x.csv")
    assert found.status is ObjectStatus.DEAD
    assert _claim(runtime) == []

    from chute.queue.records import JobFilter

    assert runtime.control.redrive(CTX, JobFilter(pipeline="chunks")) == 1
    (again,) = _claim(runtime)
    assert _item(again) == 1
    runtime.broker.record([_ok(again, clock, _output("r1", b"r1"))], WORKER)
    (join,) = _claim(runtime)
    assert [item.inline for item in join.items] == [b"r0", b"r1"]


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_map_over_100000_items_holds_its_window_in_bounded_memory(catalog_url, tmp_path, clock):
    # The splitter's result names every item; from then on the queue holds at most the
    # Map's window of their jobs, and running them all grows memory by the window's
    # worth, not the items'. (PostgreSQL runs a tenth of them: same code, slower here.)
    count = 10_000 if catalog_url.startswith("postgresql") else 100_000
    window = 500
    steps = [
        {"name": "split", "processor": "noop"},
        {"name": "each", "processor": "noop", "map": "split", "max_concurrency": window},
    ]
    pipelines = {"many": {"trigger": {"bucket": "inbox"}, "steps": steps}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    runtime = open_runtime(settings, clock=clock)
    try:
        runtime.objects.put(CTX, "inbox", "many.csv", [b"x"])
        (split,) = _claim(runtime)
        parts = [_output(f"p{i}", b"") for i in range(count)]
        runtime.broker.record([_ok(split, clock, *parts)], WORKER)
        del parts
        before = _resident_bytes()
        done = 0
        while tasks := _claim(runtime, limit=2 * window):
            assert len(tasks) <= window
            runtime.broker.record([_ok(task, clock) for task in tasks], WORKER)
            done += len(tasks)
        grown = _resident_bytes() - before
        assert done == count
        assert grown < 64 * 1024 * 1024, grown
        found = runtime.status.status(CTX, "inbox", "many.csv")
        assert found.status is ObjectStatus.SUCCEEDED
        # The status lists the splitter's job, and counts the Map's.
        (view,) = found.runs
        assert [job.step for job in view.jobs] == ["split"]
        assert view.folded == {"each": count}
        with runtime.catalog.read() as session:
            assert session.items.count(found.runs[0].run.id, "split") == 0
    finally:
        runtime.close()


def test_item_jobs_keep_the_chain_depth_of_the_change_that_started_the_run(runtime, clock):
    # A function's write (3 deep in its chain) started the run: every job of it, the
    # Map's items queued later included, writes its outputs that deep.
    runtime.objects.put(dataclasses.replace(CTX, chain=3), "inbox", "x.csv", [b"x"])
    (split,) = _claim(runtime)
    assert split.payload == {"event_chain": 3}
    parts = [_output(f"p{i}", b"p") for i in range(4)]
    runtime.broker.record([_ok(split, clock, *parts)], WORKER)
    seen = []
    while tasks := [task for task in _claim(runtime) if task.step == "each"]:
        seen += [task.payload.get("event_chain") for task in tasks]
        runtime.broker.record([_ok(task, clock, _output("r", b"r")) for task in tasks], WORKER)
    assert seen == [3, 3, 3, 3]
