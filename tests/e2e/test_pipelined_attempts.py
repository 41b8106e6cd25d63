"""A worker process holding several attempts at once (the pool sends attempts of quick
steps ahead): when one of them hangs or crashes, that attempt alone fails; the attempts
before it keep their results and the ones after it run elsewhere, each exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.queue.states import ObjectStatus, Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from chute.worker.scheduler import Scheduler
from tests.context import CTX
from tests.e2e.conftest import wait_until

NO_RETRY = {"max_attempts": 1}


def _pipeline(prefix: str, processor: str, **step: Any) -> dict[str, Any]:
    return {
        "trigger": {"bucket": "inbox", "prefix": prefix},
        "steps": [{"name": "only", "processor": processor, "retry": NO_RETRY, **step}],
    }


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    # One process, and every step taken for quick: the pool claims many at once and
    # sends attempts ahead, as it does for steps that have been quick so far.
    monkeypatch.setattr(Scheduler, "step_seconds", lambda self, step: 0.0)
    monkeypatch.setattr(Scheduler, "expected_seconds", lambda self: 0.0)
    settings = load_settings(
        data_dir=tmp_path,
        pipelines={
            "quick": _pipeline("quick/", "noop"),
            "hang": _pipeline("hang/", "test.hang", timeout_seconds=0.5),
            "abort": _pipeline("abort/", "test.abort"),
        },
        worker={"processes": 1, "modules": ["tests.hostile"], "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    yield rt
    rt.close(grace=0)


def _attempts(rt: Runtime, key: str) -> list[Outcome]:
    found = rt.status.status(CTX, "inbox", key)
    return [a.outcome for view in found.runs for runs in view.attempts.values() for a in runs]


def _settled(rt: Runtime, key: str) -> ObjectStatus:
    done = (ObjectStatus.SUCCEEDED, ObjectStatus.DEAD)
    wait_until(lambda: rt.status.status(CTX, "inbox", key).status in done, timeout=30)
    return rt.status.status(CTX, "inbox", key).status


@pytest.mark.parametrize(
    ("bad", "outcome"), [("hang/b", Outcome.TIMED_OUT), ("abort/b", Outcome.CRASHED)]
)
def test_only_the_attempt_that_misbehaves_fails(runtime: Runtime, bad: str, outcome: Outcome):
    # Queued before the workers start: one claim takes all three, in this order, and
    # the pool sends them to its one process together.
    for key in ("quick/a", bad, "quick/c"):
        runtime.objects.put(CTX, "inbox", key, [b"data"])
    runtime.start_workers()

    assert _settled(runtime, bad) is ObjectStatus.DEAD
    assert _attempts(runtime, bad) == [outcome]
    for key in ("quick/a", "quick/c"):
        assert _settled(runtime, key) is ObjectStatus.SUCCEEDED
        assert _attempts(runtime, key) == [Outcome.SUCCEEDED]


def test_many_quick_jobs_through_one_process_each_run_once(runtime: Runtime):
    keys = [f"quick/{index:03d}" for index in range(60)]
    for key in keys:
        runtime.objects.put(CTX, "inbox", key, [b"data"])
    runtime.start_workers()

    for key in keys:
        assert _settled(runtime, key) is ObjectStatus.SUCCEEDED
        assert _attempts(runtime, key) == [Outcome.SUCCEEDED]


def test_big_attempts_never_fill_the_pipe_of_a_process_stuck_in_another(runtime: Runtime):
    # Objects just under the inline limit travel inside their tasks: a few of them would
    # fill a pipe the stuck process does not read, and block the pool writing to it.
    body = b"x" * 60_000
    keys = [f"quick/big-{index}" for index in range(12)]
    runtime.objects.put(CTX, "inbox", "hang/first", [b"data"])
    for key in keys:
        runtime.objects.put(CTX, "inbox", key, [body])
    runtime.start_workers()

    assert _settled(runtime, "hang/first") is ObjectStatus.DEAD
    for key in keys:
        assert _settled(runtime, key) is ObjectStatus.SUCCEEDED
        assert _attempts(runtime, key) == [Outcome.SUCCEEDED]
