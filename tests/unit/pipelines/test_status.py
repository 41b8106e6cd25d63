"""Folding the runs of one object version into its processing status, from records built
here: no catalog, no queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chute.pipelines.status import RunView, object_status
from chute.queue.records import Job, Run
from chute.queue.states import JobKind, JobState, ObjectStatus, RunState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(run_id: int, state: RunState = RunState.ACTIVE, pipeline: str = "thumbs") -> Run:
    event = {"eventName": "ObjectCreated:Put"}
    return Run(run_id, pipeline, "inbox", "a.jpg", "v1", 1, event, state, T0, None)


def _job(
    state: JobState = JobState.AVAILABLE,
    attempt: int = 0,
    step: str = "small",
    kind: str = JobKind.STEP,
) -> Job:
    return Job(
        1, 1, kind, "thumbs", step, "inbox", "a.jpg", [], {}, state, attempt, 3,
        T0, None, None, None, T0, T0, None, None, None,
    )  # fmt: skip


def _view(run: Run, *jobs: Job) -> RunView:
    return RunView(run, list(jobs), {}, [])


def test_no_run_is_none() -> None:
    assert object_status([]) is ObjectStatus.NONE


def test_jobs_no_worker_has_started_are_pending() -> None:
    view = _view(_run(1), _job(JobState.AVAILABLE), _job(JobState.BLOCKED, step="big"))
    assert object_status([view]) is ObjectStatus.PENDING


@pytest.mark.parametrize(
    "jobs",
    [
        [_job(JobState.RUNNING, attempt=1)],
        [_job(JobState.SUCCEEDED, attempt=1), _job(JobState.BLOCKED, step="big")],
        [_job(JobState.RUNNING, attempt=2), _job(JobState.AVAILABLE, step="big")],
    ],
)
def test_a_step_that_started_makes_it_processing(jobs: list[Job]) -> None:
    assert object_status([_view(_run(1), *jobs)]) is ObjectStatus.PROCESSING


def test_a_retry_waiting_makes_it_failed_even_while_another_step_runs() -> None:
    view = _view(
        _run(1), _job(JobState.RUNNING, attempt=1), _job(JobState.RETRYABLE, 1, step="big")
    )
    assert object_status([view]) is ObjectStatus.FAILED


def test_every_run_succeeded_is_succeeded() -> None:
    views = [
        _view(_run(1, RunState.SUCCEEDED), _job(JobState.SUCCEEDED, attempt=1)),
        _view(_run(2, RunState.SUCCEEDED, pipeline="meta"), _job(JobState.SUCCEEDED, 1)),
    ]
    assert object_status(views) is ObjectStatus.SUCCEEDED


def test_a_dead_run_makes_it_dead_whatever_the_others_do() -> None:
    views = [
        _view(_run(1, RunState.DEAD), _job(JobState.DEAD, attempt=3)),
        _view(_run(2, RunState.SUCCEEDED, pipeline="meta")),
        _view(_run(3, pipeline="index"), _job(JobState.RETRYABLE, attempt=1)),
        _view(_run(4, RunState.SUPERSEDED, pipeline="scan")),
    ]
    assert object_status(views) is ObjectStatus.DEAD


@pytest.mark.parametrize(
    "states",
    [
        [RunState.SUPERSEDED],
        [RunState.SUPERSEDED, RunState.SUPERSEDED],
        [RunState.SUCCEEDED, RunState.SUPERSEDED],
    ],
)
def test_runs_ended_by_a_newer_version_make_it_superseded(states: list[RunState]) -> None:
    views = [_view(_run(i, state, pipeline=f"p{i}")) for i, state in enumerate(states, 1)]
    assert object_status(views) is ObjectStatus.SUPERSEDED


def test_a_run_still_active_beside_a_superseded_one_decides() -> None:
    views = [
        _view(_run(1, RunState.SUPERSEDED)),
        _view(_run(2, pipeline="meta"), _job(JobState.RUNNING, attempt=1)),
    ]
    assert object_status(views) is ObjectStatus.PROCESSING


@pytest.mark.parametrize("newest_first", [False, True])
def test_a_successful_reprocess_clears_a_dead_run(newest_first: bool) -> None:
    views = [
        _view(_run(3, RunState.DEAD), _job(JobState.DEAD, attempt=3)),
        _view(_run(7, RunState.SUCCEEDED), _job(JobState.SUCCEEDED, attempt=1)),
    ]
    assert object_status(views[::-1] if newest_first else views) is ObjectStatus.SUCCEEDED


@pytest.mark.parametrize("newest_first", [False, True])
def test_the_newest_run_counts_not_an_older_success(newest_first: bool) -> None:
    views = [
        _view(_run(2, RunState.SUCCEEDED), _job(JobState.SUCCEEDED, attempt=1)),
        _view(_run(5), _job(JobState.AVAILABLE)),
    ]
    assert object_status(views[::-1] if newest_first else views) is ObjectStatus.PENDING


def test_the_newest_run_is_taken_per_pipeline() -> None:
    """A newer run of one pipeline does not hide the dead run of another."""
    views = [
        _view(_run(1, RunState.DEAD, pipeline="meta"), _job(JobState.DEAD, attempt=3)),
        _view(_run(2, RunState.SUCCEEDED), _job(JobState.SUCCEEDED, attempt=1)),
    ]
    assert object_status(views) is ObjectStatus.DEAD


def test_notifications_take_no_part() -> None:
    """A notification's jobs count neither as a started step nor as a failed one."""
    retrying = _job(JobState.RETRYABLE, attempt=2, step="notify:failure", kind=JobKind.NOTIFY)
    dead = _job(JobState.DEAD, attempt=8, step="notify:success", kind=JobKind.NOTIFY)
    assert object_status([_view(_run(1), _job(), retrying)]) is ObjectStatus.PENDING
    ended = _view(_run(1, RunState.SUCCEEDED), _job(JobState.SUCCEEDED, 1), dead)
    assert object_status([ended]) is ObjectStatus.SUCCEEDED


def test_jobs_of_runs_that_ended_are_not_read() -> None:
    """Only active runs' jobs decide between pending, processing and failed."""
    views = [
        _view(_run(1, RunState.SUPERSEDED), _job(JobState.RETRYABLE, attempt=1)),
        _view(_run(2, pipeline="meta"), _job(JobState.AVAILABLE)),
    ]
    assert object_status(views) is ObjectStatus.PENDING
