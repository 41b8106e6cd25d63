"""Choice steps over SQLite and PostgreSQL. With the test as the worker: a claim settles
a step whose ``when`` is false as skipped (the steps after it still run, the run
succeeds), a step whose condition cannot be evaluated dies with the reason, and the
metadata a step recorded is what the next one's condition reads. Then a real pipeline
with a worker pool: meta.extract measures two images, the thumbnail step runs for the
wide one and is skipped for the narrow one, as the JSON API shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.clock import FakeClock
from chute.jobs import Claimed, Result, Task
from chute.pipelines.status import ObjectProcessing
from chute.queue.states import JobState, ObjectStatus, Outcome, RunState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import wait_until
from tests.integration.test_rest_api import Api

WORKER = "test-worker"
WIDE = "metadata.image.width > `2000`"


def _pipelines() -> dict[str, Any]:
    images = [
        {"name": "meta", "processor": "noop"},
        {"name": "big", "processor": "noop", "needs": ["meta"], "when": WIDE},
        {"name": "after", "processor": "noop", "needs": ["big"]},
    ]
    first = [{"name": "only", "processor": "noop", "when": "metadata.image.width > `1`"}]
    broken = [
        {"name": "meta", "processor": "noop"},
        {"name": "rank", "processor": "noop", "needs": ["meta"], "when": "metadata.rank > `1`"},
    ]
    return {
        "images": {"trigger": {"bucket": "inbox", "prefix": "img/"}, "steps": images},
        "first": {"trigger": {"bucket": "inbox", "prefix": "first/"}, "steps": first},
        "broken": {"trigger": {"bucket": "inbox", "prefix": "broken/"}, "steps": broken},
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=_pipelines())
    rt = open_runtime(settings, clock=clock)
    yield rt
    rt.close()


def _claim(rt: Runtime) -> Claimed:
    """Claim what is ready, and record what the claim settled, as the pool does."""
    claimed = rt.broker.claim(WORKER, 10, lease=30)
    rt.broker.record(claimed.settled, WORKER)
    return claimed


def _ok(task: Task, clock: FakeClock, **metadata: Any) -> Result:
    return Result(task.job_id, task.attempt, Outcome.SUCCEEDED, clock(), clock(), metadata=metadata)


def _status(rt: Runtime, key: str) -> ObjectProcessing:
    return rt.status.status(CTX, "inbox", key)


def _steps(found: ObjectProcessing) -> dict[str, Any]:
    (view,) = found.runs
    return {job.step: job for job in view.jobs}


def test_a_step_runs_for_one_object_and_is_skipped_for_another(runtime, clock):
    runtime.objects.put(CTX, "inbox", "img/wide.png", [b"w"])
    runtime.objects.put(CTX, "inbox", "img/small.png", [b"s"])
    metas = {task.source.key: task for task in _claim(runtime).tasks}
    runtime.broker.record(
        [
            _ok(metas["img/wide.png"], clock, image={"width": 4000}),
            _ok(metas["img/small.png"], clock, image={"width": 640}),
        ],
        WORKER,
    )

    claimed = _claim(runtime)
    assert [(t.step, t.source.key) for t in claimed.tasks] == [("big", "img/wide.png")]
    (skip,) = claimed.settled
    assert (skip.outcome, skip.error) == (Outcome.SKIPPED, f"condition not met: {WIDE}")

    # The step after the skipped one runs all the same, and the run succeeds.
    (after,) = _claim(runtime).tasks
    assert (after.step, after.source.key) == ("after", "img/small.png")
    runtime.broker.record([_ok(after, clock)], WORKER)
    small = _status(runtime, "img/small.png")
    assert small.status is ObjectStatus.SUCCEEDED
    assert small.runs[0].run.state is RunState.SUCCEEDED
    big = _steps(small)["big"]
    assert (big.state, big.last_error) == (JobState.SKIPPED, f"condition not met: {WIDE}")
    (attempt,) = small.runs[0].attempts[big.id]
    assert (attempt.outcome, attempt.error) == (Outcome.SKIPPED, f"condition not met: {WIDE}")
    assert attempt.report == {}
    # The metadata the condition read is kept in the step's report as well.
    meta = _steps(small)["meta"]
    assert small.runs[0].attempts[meta.id][0].report == {"metadata": {"image": {"width": 640}}}

    (big_task,) = claimed.tasks
    runtime.broker.record([_ok(big_task, clock)], WORKER)
    (after_wide,) = _claim(runtime).tasks
    runtime.broker.record([_ok(after_wide, clock)], WORKER)
    wide = _status(runtime, "img/wide.png")
    assert wide.status is ObjectStatus.SUCCEEDED
    assert {s: j.state for s, j in _steps(wide).items()} == {
        "meta": JobState.SUCCEEDED,
        "big": JobState.SUCCEEDED,
        "after": JobState.SUCCEEDED,
    }


def test_a_condition_on_the_first_step_about_missing_metadata_skips_it(runtime):
    runtime.objects.put(CTX, "inbox", "first/x.png", [b"x"])
    claimed = _claim(runtime)
    assert claimed.tasks == []
    (skip,) = claimed.settled
    assert skip.error == "condition not met: metadata.image.width > `1`"
    found = _status(runtime, "first/x.png")
    assert found.status is ObjectStatus.SUCCEEDED
    assert _steps(found)["only"].state is JobState.SKIPPED
    assert runtime.broker.claim(WORKER, 10, lease=30) == Claimed([], [])


def test_a_condition_that_fails_at_run_time_kills_its_step_with_the_reason(runtime, clock):
    runtime.objects.put(CTX, "inbox", "broken/x", [b"x"])
    runtime.objects.put(CTX, "inbox", "broken/y", [b"y"])
    metas = {task.source.key: task for task in _claim(runtime).tasks}
    # jmespath raises ordering a string against a number; a number compares fine
    runtime.broker.record(
        [_ok(metas["broken/x"], clock, rank="high"), _ok(metas["broken/y"], clock, rank=5)],
        WORKER,
    )
    claimed = _claim(runtime)
    assert [task.source.key for task in claimed.tasks] == ["broken/y"]
    (refusal,) = claimed.settled
    assert refusal.outcome is Outcome.REJECTED

    found = _status(runtime, "broken/x")
    assert found.status is ObjectStatus.DEAD
    rank = _steps(found)["rank"]
    assert rank.state is JobState.DEAD
    assert rank.last_error is not None
    assert rank.last_error.startswith("condition metadata.rank > `1` could not be evaluated:")
    assert "orders values of different types" in rank.last_error
    assert rank.attempt == 1  # rejected: no retry, whatever the retry policy
    # The worker carries on: the other object's step runs.
    (task,) = claimed.tasks
    runtime.broker.record([_ok(task, clock)], WORKER)
    assert _status(runtime, "broken/y").status is ObjectStatus.SUCCEEDED


# --- a real pipeline, with a worker pool ----------------------------------------------

LARGE = "metadata.image.width > `1000`"
PHOTOS = [
    {"name": "meta", "processor": "meta.extract"},
    {
        "name": "large",
        "processor": "image.thumbnail",
        "options": {"sizes": [64], "format": "png"},
        "needs": ["meta"],
        "when": LARGE,
    },
    # Sees the outputs of the step before it: none when that one was skipped.
    {"name": "tag", "processor": "noop", "needs": ["large"], "when": "steps.large.outputs"},
]

# User metadata values are text: ordering one against a number fails (to_number() works).
RANKED = [
    {"name": "strict", "processor": "noop", "when": "object.metadata.rank > `1`"},
    {"name": "lenient", "processor": "noop", "when": "to_number(object.metadata.rank) > `1`"},
]


@pytest.fixture
def pooled(catalog_url: str, tmp_path: Path) -> Iterator[Runtime]:
    photos = {"trigger": {"bucket": "inbox", "prefix": "photos/"}, "steps": PHOTOS}
    ranked = {"trigger": {"bucket": "inbox", "prefix": "ranked/"}, "steps": RANKED}
    settings = load_settings(
        data_dir=tmp_path,
        database_url=catalog_url,
        pipelines={"photos": photos, "ranked": ranked},
        worker={"processes": 1, "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    rt.start_workers()
    yield rt
    rt.close(grace=0)


def _png(width: int, height: int) -> bytes:
    import pyvips  # type: ignore[import-untyped, unused-ignore]

    return bytes((pyvips.Image.black(width, height) + 90).cast("uchar").pngsave_buffer())


def _settled(rt: Runtime, key: str) -> ObjectProcessing:
    done = (ObjectStatus.SUCCEEDED, ObjectStatus.DEAD)
    wait_until(lambda: _status(rt, key).status in done, timeout=60)
    return _status(rt, key)


def test_a_real_pipeline_thumbnails_the_large_image_and_skips_the_small_one(pooled):
    pooled.objects.put(CTX, "inbox", "photos/wide.png", [_png(1200, 40)], content_type="image/png")
    pooled.objects.put(CTX, "inbox", "photos/narrow.png", [_png(300, 40)], content_type="image/png")

    wide = _settled(pooled, "photos/wide.png")
    assert wide.status is ObjectStatus.SUCCEEDED
    assert wide.metadata["image"]["width"] == 1200
    assert {step: job.state for step, job in _steps(wide).items()} == {
        "meta": JobState.SUCCEEDED,
        "large": JobState.SUCCEEDED,
        "tag": JobState.SUCCEEDED,
    }
    assert [o.key for o in wide.runs[0].outputs] == ["photos/wide/thumb-64.png"]

    narrow = _settled(pooled, "photos/narrow.png")
    assert narrow.status is ObjectStatus.SUCCEEDED
    assert narrow.metadata["image"]["width"] == 300
    steps = _steps(narrow)
    assert {step: job.state for step, job in steps.items()} == {
        "meta": JobState.SUCCEEDED,
        "large": JobState.SKIPPED,
        "tag": JobState.SKIPPED,
    }
    assert steps["large"].last_error == f"condition not met: {LARGE}"
    assert steps["tag"].last_error == "condition not met: steps.large.outputs"
    assert narrow.runs[0].outputs == []

    # The JSON API shows the skip and its reason in the run's step record.
    api = Api(pooled)
    answer = api.get("/buckets/inbox/status/photos/narrow.png")
    assert answer.status_code == 200
    (run,) = answer.json()["runs"]
    large = next(step for step in run["steps"] if step["step"] == "large")
    assert (large["state"], large["error"], large["outputs"]) == (
        "skipped",
        f"condition not met: {LARGE}",
        [],
    )
    assert [a["outcome"] for a in large["attempts"]] == ["skipped"]
    listed = {p["name"]: p for p in api.get("/pipelines").json()["pipelines"]}
    whens = [step["when"] for step in listed["photos"]["steps"]]
    assert whens == [None, LARGE, "steps.large.outputs"]


def test_a_condition_failing_in_a_real_pool_kills_its_step_and_the_pool_goes_on(pooled):
    pooled.objects.put(CTX, "inbox", "ranked/x", [b"x"], metadata={"rank": "5"})
    ended = (JobState.SUCCEEDED, JobState.DEAD)
    wait_until(
        lambda: all(j.state in ended for j in _steps(_status(pooled, "ranked/x")).values()),
        timeout=60,
    )
    found = _status(pooled, "ranked/x")
    assert found.status is ObjectStatus.DEAD
    steps = _steps(found)
    assert steps["lenient"].state is JobState.SUCCEEDED
    strict = steps["strict"]
    assert strict.state is JobState.DEAD
    assert strict.last_error is not None
    assert strict.last_error.startswith(
        "condition object.metadata.rank > `1` could not be evaluated: it orders values"
    )
    pooled.objects.put(CTX, "inbox", "photos/after.png", [_png(1100, 20)])
    assert _settled(pooled, "photos/after.png").status is ObjectStatus.SUCCEEDED
