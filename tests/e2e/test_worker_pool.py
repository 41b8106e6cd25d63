"""The worker pool with real worker processes: hostile processors each fail their
attempt with a clear reason, the pool keeps serving, exhausted jobs die and can be
redriven; batches; retries a processor asks for; slow jobs shared between two pools;
a killed worker's unstarted jobs go back to the queue uncharged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.queue.records import JobFilter
from chute.queue.states import JobState, ObjectStatus, Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
FAST_RETRY = {"max_attempts": 2, "base_delay": 0.01, "jitter": False}


def _step(name: str, processor: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "processor": processor, "retry": FAST_RETRY, **extra}


PIPELINES = {
    "hang": _step("hang", "test.hang", timeout_seconds=0.5),
    "allocate": _step("allocate", "test.allocate", memory_mb=128),
    "abort": _step("abort", "test.abort"),
    "raise": _step("raise", "test.raise"),
    "retry": _step("retry", "test.retry"),
    "copy": _step("copy", "copy"),
    "batch": _step("batch", "test.batch"),
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    # The batch pipeline is started by hand (reprocess), so that all its jobs are
    # created in one transaction: uploads do not start it, as it waits for removals (a
    # reprocess selects by the trigger's conditions on objects, not on events).
    pipelines: dict[str, dict[str, Any]] = {
        name: {"trigger": {"bucket": "inbox", "prefix": f"{name}/"}, "steps": [step]}
        for name, step in PIPELINES.items()
    }
    pipelines["batch"]["trigger"]["events"] = ["ObjectRemoved:*"]
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("pool"),
        pipelines=pipelines,
        worker={"processes": 2, "modules": ["tests.hostile"], "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    rt.start_workers()
    yield rt
    rt.close(grace=0)


def _settled(rt: Runtime, key: str) -> ObjectStatus:
    wait_until(
        lambda: (
            rt.status.status(CTX, "inbox", key).status
            in (ObjectStatus.SUCCEEDED, ObjectStatus.DEAD)
        ),
        timeout=30,
    )
    return rt.status.status(CTX, "inbox", key).status


def _attempts(rt: Runtime, key: str) -> list[tuple[Outcome, str | None]]:
    found = rt.status.status(CTX, "inbox", key)
    return [
        (a.outcome, a.error) for view in found.runs for runs in view.attempts.values() for a in runs
    ]


@pytest.mark.parametrize(
    ("pipeline", "outcome", "reason"),
    [
        ("hang", Outcome.TIMED_OUT, "timed out after 0.5 s"),
        ("allocate", Outcome.OUT_OF_MEMORY, "exceeded the step's memory cap of 128 MiB"),
        ("abort", Outcome.CRASHED, "died of SIGABRT"),
        ("raise", Outcome.FAILED, "ValueError: cannot handle raise/x"),
    ],
)
def test_a_hostile_step_fails_each_attempt_then_dies(runtime, pipeline, outcome, reason):
    key = f"{pipeline}/x"
    runtime.objects.put(CTX, "inbox", key, [b"data"])
    assert _settled(runtime, key) is ObjectStatus.DEAD
    attempts = _attempts(runtime, key)
    assert len(attempts) == 2
    for got, error in attempts:
        assert got is outcome
        assert error is not None
        assert reason in error
    # The pool carries on serving.
    runtime.objects.put(CTX, "inbox", f"copy/after-{pipeline}", [b"still here"])
    assert _settled(runtime, f"copy/after-{pipeline}") is ObjectStatus.SUCCEEDED


def test_a_dead_job_can_be_redriven(runtime):
    runtime.objects.put(CTX, "inbox", "raise/again", [b"data"])
    assert _settled(runtime, "raise/again") is ObjectStatus.DEAD
    assert runtime.control.redrive(CTX, JobFilter(pipeline="raise", key_prefix="raise/again")) == 1
    wait_until(lambda: len(_attempts(runtime, "raise/again")) == 4, timeout=30)
    assert _settled(runtime, "raise/again") is ObjectStatus.DEAD


def test_a_processor_can_ask_for_a_retry(runtime):
    runtime.objects.put(CTX, "inbox", "retry/x", [b"data"])
    assert _settled(runtime, "retry/x") is ObjectStatus.SUCCEEDED
    assert [o for o, _ in _attempts(runtime, "retry/x")] == [Outcome.RETRY, Outcome.SUCCEEDED]


def test_copy_writes_its_output_with_lineage(runtime):
    runtime.objects.put(CTX, "inbox", "copy/big", [b"x" * 200_000])
    assert _settled(runtime, "copy/big") is ObjectStatus.SUCCEEDED
    read = runtime.objects.open(CTX, "processed", "copy/big")
    assert b"".join(read.body) == b"x" * 200_000
    found = runtime.status.status(CTX, "inbox", "copy/big")
    assert [o.key for o in found.runs[0].outputs] == ["copy/big"]


def test_a_batch_processor_gets_jobs_together(runtime):
    for index in range(4):
        runtime.objects.put(CTX, "inbox", f"batch/{index}", [b"x"])
    assert runtime.control.reprocess(CTX, "batch", "inbox", prefix="batch/").runs == 4
    sizes = []
    for index in range(4):
        assert _settled(runtime, f"batch/{index}") is ObjectStatus.SUCCEEDED
        found = runtime.status.status(CTX, "inbox", f"batch/{index}")
        sizes += [a.report["batch"] for runs in found.runs[0].attempts.values() for a in runs]
    assert sizes == [4, 4, 4, 4]


def test_no_job_is_left_running(runtime):
    counts = runtime.status.counts(CTX, JobFilter(states=(JobState.RUNNING,)))
    assert counts.get(JobState.RUNNING, 0) == 0


def test_two_pools_share_slow_jobs(tmp_path: Path):
    """A pool claims slow jobs only for its idle processes: four slow jobs made ready
    together run in both pools on one catalog, not all in the first to claim."""
    pipelines = {
        "nap": {
            # uploads do not start it: a reprocess makes all four ready at once
            "trigger": {"bucket": "inbox", "prefix": "nap/", "events": ["ObjectRemoved:*"]},
            "steps": [{"name": "nap", "processor": "test.sleep"}],
        }
    }
    worker = {"processes": 2, "modules": ["tests.hostile"], "poll_seconds": 0.2}
    settings = load_settings(data_dir=tmp_path, pipelines=pipelines, worker=worker)
    first, second = open_runtime(settings), open_runtime(settings, sweep=False)
    try:
        pools = [first.start_workers(), second.start_workers()]
        wait_until(lambda: all(pool.ready_processes() == 2 for pool in pools), timeout=30)
        keys = [f"nap/{index}" for index in range(4)]
        for key in keys:
            first.objects.put(CTX, "inbox", key, [b"x"])
        assert first.control.reprocess(CTX, "nap", "inbox", prefix="nap/").runs == 4
        for key in keys:
            assert _settled(first, key) is ObjectStatus.SUCCEEDED
        workers = [
            attempt.worker
            for key in keys
            for view in first.status.status(CTX, "inbox", key).runs
            for attempts in view.attempts.values()
            for attempt in attempts
        ]
        assert len(workers) == 4
        assert set(workers) == {pool.name for pool in pools}
    finally:
        second.close(grace=0)
        first.close(grace=0)


def _worker_config(tmp_path: Path) -> Path:
    """A chute.toml: two processes, one-second leases; a slow step, and a batch step
    whose jobs wait a minute in the buffer for their batch to fill."""
    config = tmp_path / "chute.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "data"}"
[worker]
processes = 2
lease_seconds = 1.0
poll_seconds = 0.2
modules = ["tests.hostile"]
[pipelines.wait]
trigger = {{ bucket = "inbox", prefix = "wait/" }}
steps = [{{ name = "w", processor = "test.wait" }}]
[pipelines.gather]
trigger = {{ bucket = "inbox", prefix = "gather/" }}
steps = [{{ name = "g", processor = "test.gather" }}]
""")
    return config


def _start_worker(config: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUTE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", "--config", str(config)],
        env={**env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_worker_is_charged_only_for_the_job_it_started(tmp_path: Path):
    config = _worker_config(tmp_path)
    rt = open_runtime(load_settings(config), sweep=False)
    rt.objects.put(CTX, "inbox", "wait/x", [str(tmp_path).encode()])
    for index in range(3):
        rt.objects.put(CTX, "inbox", f"gather/{index}", [b"x"])
    jobs = rt.status.jobs(CTX, JobFilter()).jobs
    by_step = {step: [job.id for job in jobs if job.step == step] for step in ("w", "g")}
    worker = _start_worker(config)
    try:
        wait_until((tmp_path / "started").exists, timeout=30)
        # Every job claimed, the running one reported started, the batch still waiting.
        wait_until(lambda: _states(rt) == {JobState.RUNNING}, timeout=30)
        wait_until(lambda: rt.status.job(CTX, by_step["w"][0])[0].started_at is not None)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    wait_until(lambda: rt.broker.reap() >= 0 and JobState.RUNNING not in _states(rt))
    (started,) = by_step["w"]
    job, attempts = rt.status.job(CTX, started)
    assert (job.state, [a.outcome for a in attempts]) == (JobState.RETRYABLE, [Outcome.LOST])
    for job_id in by_step["g"]:
        job, attempts = rt.status.job(CTX, job_id)
        assert (job.state, job.attempt, attempts) == (JobState.AVAILABLE, 0, [])
    rt.close()


def _states(rt: Runtime) -> set[JobState]:
    return set(rt.status.counts(CTX, JobFilter()))
