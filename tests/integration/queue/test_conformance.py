"""The contract every job queue backend keeps (:class:`chute.queue.base.JobQueue`): each
test runs on the memory queue and on the SQL queue over SQLite and PostgreSQL, where
every call is a write transaction of its own, as the services make them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from chute.catalog import Catalog
from chute.clock import FakeClock
from chute.queue.base import JobQueue
from chute.queue.memory import MemoryJobQueue
from chute.queue.records import Job, JobFilter, NewJob, RunSource
from chute.queue.states import JobKind, JobState, Outcome, RunState
from tests.conftest import catalog_database

W1, W2 = "worker-1", "worker-2"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
EVENT = {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "in/a.txt"}}}
SOURCE = RunSource("inbox", "in/a.txt", "v1", None, EVENT)


class _EachCallCommits:
    """The SQL queue with each call in a write transaction of its own."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.catalog.run_write(
                lambda session: getattr(session.queue, name)(*args, **kwargs)
            )

        return call


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobQueue]:
    """An empty queue of each backend in turn."""
    if request.param == "memory":
        yield MemoryJobQueue()
        return
    with contextmanager(catalog_database)(request.param, request, tmp_path) as url:
        catalog = Catalog(url)
        catalog.migrate()
        yield cast(JobQueue, _EachCallCommits(catalog))
        catalog.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _run(
    queue: JobQueue,
    clock: FakeClock,
    *jobs: str | NewJob,
    pipeline: str = "p",
    source: RunSource = SOURCE,
) -> int:
    """A run of ``jobs`` (a step name is a step without needs, tried 3 times)."""
    new = [NewJob(job, 3) if isinstance(job, str) else job for job in jobs]
    return queue.create_run(pipeline, source, new, clock())


def _jobs(queue: JobQueue, run_id: int) -> dict[str, Job]:
    return {job.step: job for job in queue.jobs_of_runs([run_id])}


def _lease(clock: FakeClock, seconds: float = 30) -> datetime:
    return clock() + timedelta(seconds=seconds)


def _claim(queue: JobQueue, clock: FakeClock, worker: str = W1, limit: int = 10, **kw: Any):
    return queue.claim(worker, limit, _lease(clock), clock(), **kw)


def _held(queue: JobQueue, job_id: int, worker: str = W1) -> Job:
    job = queue.get_job(job_id)
    assert job is not None
    fenced = queue.fenced(job_id, job.attempt, worker)
    assert fenced is not None
    return fenced


def _one(job: Job) -> int:
    return 1


def _dead(queue: JobQueue, clock: FakeClock, job_id: int, error: str = "boom") -> None:
    """Claim ``job_id`` (the only ready job) and let its attempt die."""
    (ref,) = _claim(queue, clock)
    assert ref.id == job_id
    queue.finish(_held(queue, job_id), JobState.DEAD, clock(), error=error, traceback="tb")


# --- creating work -------------------------------------------------------------------


def test_a_run_starts_active_with_its_jobs_available_or_blocked(queue, clock):
    run_id = _run(queue, clock, "a", NewJob("b", 5, needs=["a"]))
    run = queue.get_run(run_id)
    assert run is not None
    assert (run.pipeline, run.bucket, run.key, run.version_id) == ("p", "inbox", "in/a.txt", "v1")
    assert (run.state, run.event, run.created_at, run.finished_at) == (
        RunState.ACTIVE,
        EVENT,
        START,
        None,
    )
    jobs = _jobs(queue, run_id)
    assert jobs["a"].state is JobState.AVAILABLE
    assert jobs["b"].state is JobState.BLOCKED
    assert jobs["b"].needs == ["a"]
    assert (jobs["b"].attempt, jobs["b"].max_attempts, jobs["b"].run_at) == (0, 5, START)
    assert (jobs["a"].worker, jobs["a"].lease_expires_at, jobs["a"].finished_at) == (
        None,
        None,
        None,
    )
    assert _state_of(queue, run_id) is RunState.ACTIVE


def test_ids_grow_and_missing_ones_are_none(queue, clock):
    first, second = _run(queue, clock, "a"), _run(queue, clock, "a")
    assert second > first
    assert queue.get_run(second + 1) is None
    assert queue.get_run(second + 1) is None
    ids = [job.id for job in queue.jobs_of_runs([first, second])]
    assert ids == sorted(ids)
    assert len(set(ids)) == 2
    assert queue.get_job(max(ids) + 1) is None


def test_jobs_added_to_a_run_keep_their_kind_and_payload(queue, clock):
    run_id = _run(queue, clock, "a")
    payload = {"url": "http://example.test/hook", "body": {"n": [1, 2]}}
    note = NewJob("notify:success", 2, kind=JobKind.NOTIFY, payload=payload)
    queue.add_jobs(run_id, "p", SOURCE, [note], clock())
    job = _jobs(queue, run_id)["notify:success"]
    assert (job.kind, job.payload, job.state) == (JobKind.NOTIFY, payload, JobState.AVAILABLE)
    refs = {ref.step: ref for ref in _claim(queue, clock)}
    assert refs["notify:success"].payload == payload
    assert refs["a"].payload == {}


def test_runs_of_a_key_are_oldest_first_and_by_version(queue, clock):
    first = _run(queue, clock, "a")
    other = _run(queue, clock, "a", source=RunSource("inbox", "in/b.txt", "v1", None, EVENT))
    second = _run(queue, clock, "a", source=RunSource("inbox", "in/a.txt", "v2", None, EVENT))
    assert [run.id for run in queue.runs_of("inbox", "in/a.txt")] == [first, second]
    assert [run.id for run in queue.runs_of("inbox", "in/a.txt", "v2")] == [second]
    assert [run.id for run in queue.runs_of("inbox", "in/b.txt")] == [other]
    assert queue.runs_of("inbox", "in/c.txt") == []


def test_run_sources_describe_what_each_run_processes(queue, clock):
    run_id = _run(queue, clock, "a")
    sources = queue.run_sources([run_id, run_id + 1])
    assert list(sources) == [run_id]
    source = sources[run_id]
    assert (source.bucket, source.key, source.version_id) == ("inbox", "in/a.txt", "v1")
    assert source.event == EVENT
    # no object version behind the run: nothing to read
    assert (source.blob_id, source.size, source.blob_kind, source.inline) == (None,) * 4


# --- claiming --------------------------------------------------------------------------


def test_a_claim_takes_the_oldest_due_first_up_to_the_limit(queue, clock):
    runs = []
    for _ in range(3):
        runs.append(_run(queue, clock, "a"))
        clock.advance(1)
    refs = _claim(queue, clock, limit=2)
    assert [ref.run_id for ref in refs] == runs[:2]
    assert [ref.attempt for ref in refs] == [1, 1]
    (last,) = _claim(queue, clock, W2)
    assert last.run_id == runs[2]
    assert _claim(queue, clock) == []


def test_jobs_due_together_are_claimed_by_id(queue, clock):
    run_id = _run(queue, clock, "c", "b", "a")
    refs = _claim(queue, clock)
    assert [ref.step for ref in refs] == ["c", "b", "a"]
    assert [ref.id for ref in refs] == sorted(ref.id for ref in refs)
    assert {ref.run_id for ref in refs} == {run_id}


def test_a_claimed_job_is_leased_to_its_worker_and_not_started(queue, clock):
    run_id = _run(queue, clock, "a")
    (ref,) = _claim(queue, clock)
    job = queue.get_job(ref.id)
    assert job is not None
    assert (job.state, job.attempt, job.worker) == (JobState.RUNNING, 1, W1)
    assert (job.lease_expires_at, job.started_at, job.updated_at) == (_lease(clock), None, START)
    assert (ref.run_id, ref.kind, ref.pipeline, ref.step) == (run_id, JobKind.STEP, "p", "a")


def test_a_claim_takes_only_the_steps_asked_for(queue, clock):
    _run(queue, clock, "a", "b")
    _run(queue, clock, "a", pipeline="q")
    refs = _claim(queue, clock, steps=[("p", "b"), ("q", "a")])
    assert sorted((ref.pipeline, ref.step) for ref in refs) == [("p", "b"), ("q", "a")]
    assert _claim(queue, clock, steps=[("p", "b")]) == []
    assert _claim(queue, clock, steps=[]) == []
    ((pipeline, step),) = [(ref.pipeline, ref.step) for ref in _claim(queue, clock)]
    assert (pipeline, step) == ("p", "a")


def test_a_claim_of_nothing_takes_nothing(queue, clock):
    _run(queue, clock, "a")
    assert _claim(queue, clock, limit=0) == []
    assert queue.claim(W1, 10, _lease(clock), clock() - timedelta(seconds=1)) == []
    assert len(_claim(queue, clock)) == 1


# --- fencing ---------------------------------------------------------------------------


def test_only_the_holder_at_its_attempt_holds_a_job(queue, clock):
    _run(queue, clock, "a", "b")
    first, second = _claim(queue, clock)
    assert queue.fenced(first.id, 1, W1) is not None
    assert queue.fenced(first.id, 2, W1) is None
    assert queue.fenced(first.id, 1, W2) is None
    held = queue.held([(first.id, 1), (second.id, 2), (second.id + 100, 1)], W1)
    assert list(held) == [first.id]
    assert held[first.id] == first
    assert queue.held([(first.id, 1)], W2) == {}
    assert queue.held([], W1) == {}


def test_a_stale_attempt_cannot_finish(queue, clock):
    _run(queue, clock, "a")
    (stale,) = _claim(queue, clock)
    queue.finish(_held(queue, stale.id), JobState.RETRYABLE, clock(), run_at=clock())
    (fresh,) = _claim(queue, clock, W2)
    assert fresh.attempt == 2
    assert queue.fenced(stale.id, stale.attempt, W1) is None
    assert queue.held([(stale.id, stale.attempt)], W1) == {}
    assert queue.succeed_held([stale.id], W1, clock()) == set()
    assert queue.succeed_held([fresh.id], W2, clock()) == {fresh.id}
    assert _held_state(queue, fresh.id) is JobState.SUCCEEDED


def _held_state(queue: JobQueue, job_id: int) -> JobState:
    job = queue.get_job(job_id)
    assert job is not None
    return job.state


def test_succeed_held_ends_the_workers_running_jobs(queue, clock):
    _run(queue, clock, "a", "b", "c")
    a, b, _ = _claim(queue, clock)
    clock.advance(2)
    assert queue.succeed_held([a.id, b.id, b.id + 100], W1, clock()) == {a.id, b.id}
    job = queue.get_job(a.id)
    assert job is not None
    assert (job.state, job.worker, job.lease_expires_at) == (JobState.SUCCEEDED, None, None)
    assert (job.finished_at, job.updated_at) == (clock(), clock())
    assert queue.succeed_held([a.id], W1, clock()) == set()
    assert queue.succeed_held([], W1, clock()) == set()


# --- finishing: retries, dead letters, redrive -----------------------------------------


def test_a_retryable_job_is_claimed_again_once_due(queue, clock):
    _run(queue, clock, "a")
    (ref,) = _claim(queue, clock)
    due = clock() + timedelta(seconds=10)
    queue.finish(_held(queue, ref.id), JobState.RETRYABLE, clock(), run_at=due, error="boom")
    job = queue.get_job(ref.id)
    assert job is not None
    assert (job.state, job.run_at, job.worker, job.finished_at) == (
        JobState.RETRYABLE,
        due,
        None,
        None,
    )
    assert (job.attempt, job.last_error) == (1, "boom")
    assert _claim(queue, clock) == []
    assert queue.next_due(clock()) == due
    clock.advance(10)
    (again,) = _claim(queue, clock)
    assert (again.id, again.attempt) == (ref.id, 2)


def test_a_dead_job_keeps_its_last_error(queue, clock):
    run_id = _run(queue, clock, "a")
    job_id = _jobs(queue, run_id)["a"].id
    _dead(queue, clock, job_id, error="bad\x00input")
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.finished_at, job.worker) == (JobState.DEAD, clock(), None)
    assert (job.last_error, job.last_traceback) == ("bad\\0input", "tb")
    assert queue.count_jobs(JobFilter(states=(JobState.DEAD,))) == {JobState.DEAD: 1}
    # a finish without an error keeps the last one
    queue.finish(job, JobState.DEAD, clock())
    kept = queue.get_job(job_id)
    assert kept is not None
    assert kept.last_error == "bad\\0input"


def test_a_redrive_makes_dead_jobs_available_with_fresh_attempts(queue, clock):
    run_id = _run(queue, clock, "a", NewJob("b", 3, needs=["a"]))
    job_id = _jobs(queue, run_id)["a"].id
    _dead(queue, clock, job_id)
    assert queue.set_run_state(run_id, RunState.DEAD, clock())
    clock.advance(60)
    seen: list[int] = []

    def attempts(job: Job) -> int:
        seen.append(job.id)
        return 4

    assert queue.redrive(JobFilter(pipeline="p"), attempts, clock()) == 1
    assert seen == [job_id]
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attempt, job.max_attempts) == (JobState.AVAILABLE, 1, 5)
    assert (job.run_at, job.finished_at) == (clock(), None)
    run = queue.get_run(run_id)
    assert run is not None
    assert (run.state, run.finished_at) == (RunState.ACTIVE, None)
    (ref,) = _claim(queue, clock)
    assert (ref.id, ref.attempt) == (job_id, 2)
    assert queue.redrive(JobFilter(), attempts, clock()) == 0


def test_a_redrive_takes_only_dead_jobs_that_match(queue, clock):
    dead_p = _jobs(queue, _run(queue, clock, "a"))["a"].id
    _dead(queue, clock, dead_p)
    dead_q = _jobs(queue, _run(queue, clock, "a", pipeline="q"))["a"].id
    _dead(queue, clock, dead_q)
    _run(queue, clock, "waiting")
    assert queue.redrive(JobFilter(states=(JobState.AVAILABLE,)), _one, clock()) == 0
    assert queue.redrive(JobFilter(pipeline="q"), _one, clock()) == 1
    assert _held_state(queue, dead_p) is JobState.DEAD
    assert _held_state(queue, dead_q) is JobState.AVAILABLE
    assert queue.redrive(JobFilter(job_ids=(dead_p,)), _one, clock()) == 1
    assert _held_state(queue, dead_p) is JobState.AVAILABLE


def test_a_run_stays_dead_while_one_of_its_steps_is(queue, clock):
    run_id = _run(queue, clock, "a", "b")
    jobs = _jobs(queue, run_id)
    for ref in _claim(queue, clock):
        queue.finish(_held(queue, ref.id), JobState.DEAD, clock(), error="boom")
    queue.set_run_state(run_id, RunState.DEAD, clock())
    assert queue.redrive(JobFilter(job_ids=(jobs["a"].id,)), _one, clock()) == 1
    assert _state_of(queue, run_id) is RunState.DEAD
    assert queue.redrive(JobFilter(job_ids=(jobs["b"].id,)), _one, clock()) == 1
    assert _state_of(queue, run_id) is RunState.ACTIVE


# --- needs, run completion, superseding ------------------------------------------------


def test_a_step_is_unblocked_once_all_it_needs_succeeded(queue, clock):
    run_id = _run(queue, clock, "a", "b", NewJob("join", 3, needs=["a", "b"]))
    a, b = _claim(queue, clock)
    queue.succeed_held([a.id], W1, clock())
    assert len(queue.unblock(run_id, clock())) == 0
    assert _claim(queue, clock) == []
    clock.advance(5)
    queue.succeed_held([b.id], W1, clock())
    assert len(queue.unblock(run_id, clock())) == 1
    join = _jobs(queue, run_id)["join"]
    assert (join.state, join.run_at) == (JobState.AVAILABLE, clock())
    assert len(queue.unblock(run_id, clock())) == 0
    assert [ref.step for ref in _claim(queue, clock)] == ["join"]


def test_a_step_of_many_jobs_is_done_once_all_of_them_are(queue, clock):
    # A Map's step has a job per item: the step joining it waits for every one.
    run_id = _run(queue, clock, "each", NewJob("join", 3, needs=["each"]))
    queue.add_jobs(run_id, "p", SOURCE, [NewJob("each", 3, payload={"item": 1})], clock())
    first, second = _claim(queue, clock)
    queue.set_payload(first.id, {"item": 0})
    assert _held(queue, first.id).payload == {"item": 0}
    queue.succeed_held([first.id], W1, clock())
    assert queue.unblock(run_id, clock()) == []
    queue.succeed_held([second.id], W1, clock())
    (join,) = queue.unblock(run_id, clock())
    assert (join.step, join.state) == ("join", JobState.AVAILABLE)


def test_a_run_completes_once_every_step_succeeded(queue, clock):
    run_id = _run(queue, clock, "a", "b")
    other = _run(queue, clock, "a")
    note = NewJob("notify:success", 1, kind=JobKind.NOTIFY)
    queue.add_jobs(run_id, "p", SOURCE, [note], clock())
    refs = {(ref.run_id, ref.step): ref for ref in _claim(queue, clock)}
    queue.succeed_held([refs[(run_id, "a")].id], W1, clock())
    assert queue.complete_runs([run_id, other], clock()) == []
    clock.advance(1)
    queue.succeed_held([refs[(run_id, "b")].id], W1, clock())
    # the notification job takes no part in the run's outcome
    assert queue.complete_runs([run_id, other, run_id + 100], clock()) == [run_id]
    run = queue.get_run(run_id)
    assert run is not None
    assert (run.state, run.finished_at) == (RunState.SUCCEEDED, clock())
    assert queue.complete_runs([run_id], clock()) == []
    assert queue.complete_runs([], clock()) == []
    assert _state_of(queue, other) is RunState.ACTIVE


def test_a_skipped_step_is_done_for_its_needs_and_its_run(queue, clock):
    run_id = _run(queue, clock, "a", NewJob("b", 3, needs=["a"]))
    (a,) = _claim(queue, clock)
    queue.finish(_held(queue, a.id), JobState.SKIPPED, clock(), error="condition not met: x")
    skipped = _jobs(queue, run_id)["a"]
    assert (skipped.state, skipped.finished_at) == (JobState.SKIPPED, clock())
    assert skipped.last_error == "condition not met: x"
    assert queue.complete_runs([run_id], clock()) == []  # b has not run
    assert len(queue.unblock(run_id, clock())) == 1
    (b,) = _claim(queue, clock)
    assert b.step == "b"
    queue.finish(_held(queue, b.id), JobState.SKIPPED, clock())
    assert queue.complete_runs([run_id], clock()) == [run_id]
    assert _state_of(queue, run_id) is RunState.SUCCEEDED
    assert queue.count_jobs(JobFilter()) == {JobState.SKIPPED: 2}


def test_set_run_state_says_whether_it_changed(queue, clock):
    run_id = _run(queue, clock, "a")
    assert not queue.set_run_state(run_id, RunState.ACTIVE, clock())
    assert queue.set_run_state(run_id, RunState.DEAD, clock())
    run = queue.get_run(run_id)
    assert run is not None
    assert (run.state, run.finished_at) == (RunState.DEAD, clock())
    assert not queue.set_run_state(run_id, RunState.DEAD, clock())
    assert queue.set_run_state(run_id, RunState.ACTIVE, clock())
    again = queue.get_run(run_id)
    assert again is not None
    assert (again.state, again.finished_at) == (RunState.ACTIVE, None)
    assert not queue.set_run_state(run_id + 100, RunState.DEAD, clock())


def test_superseding_ends_a_run_and_its_waiting_and_claimed_jobs(queue, clock):
    run_id = _run(queue, clock, "mine", "theirs", "waits", NewJob("blocked", 3, needs=["mine"]))
    (mine,) = _claim(queue, clock, steps=[("p", "mine")])
    (theirs,) = _claim(queue, clock, W2, steps=[("p", "theirs")])
    done_run = _run(queue, clock)
    assert queue.complete_runs([done_run], clock()) == [done_run]
    clock.advance(1)
    queue.supersede([run_id, done_run], [mine.id], clock())
    assert _state_of(queue, run_id) is RunState.SUPERSEDED
    assert _state_of(queue, done_run) is RunState.SUCCEEDED
    jobs = _jobs(queue, run_id)
    for step in ("mine", "waits", "blocked"):
        job = jobs[step]
        assert (job.state, job.worker, job.finished_at) == (JobState.SUPERSEDED, None, clock())
    assert (jobs["theirs"].state, jobs["theirs"].worker) == (JobState.RUNNING, W2)
    assert queue.succeed_held([theirs.id], W2, clock()) == {theirs.id}


# --- leases ----------------------------------------------------------------------------


def test_a_released_attempt_does_not_count(queue, clock):
    _run(queue, clock, "a")
    (ref,) = _claim(queue, clock)
    queue.mark_started(W1, [ref.id], clock())
    clock.advance(1)
    queue.release(_held(queue, ref.id), clock())
    job = queue.get_job(ref.id)
    assert job is not None
    assert (job.state, job.attempt, job.worker, job.lease_expires_at, job.started_at) == (
        JobState.AVAILABLE,
        0,
        None,
        None,
        None,
    )
    assert (job.unstarted_losses, job.updated_at) == (0, clock())
    (again,) = _claim(queue, clock, W2)
    assert again.attempt == 1
    queue.release(_held(queue, ref.id, W2), clock(), lost=True)
    lost = queue.get_job(ref.id)
    assert lost is not None
    assert (lost.state, lost.attempt, lost.unstarted_losses) == (JobState.AVAILABLE, 0, 1)


def test_a_release_of_an_attempt_since_taken_over_changes_nothing(queue, clock):
    _run(queue, clock, "a")
    (ref,) = _claim(queue, clock)
    stale = _held(queue, ref.id)
    queue.finish(stale, JobState.RETRYABLE, clock(), run_at=clock())
    _claim(queue, clock, W2)
    queue.release(stale, clock())
    job = queue.get_job(ref.id)
    assert job is not None
    assert (job.state, job.attempt, job.worker) == (JobState.RUNNING, 2, W2)


def test_expired_leases_are_running_jobs_past_their_lease(queue, clock):
    _run(queue, clock, "a", "b", "c")
    (a,) = queue.claim(W1, 1, _lease(clock, 20), clock())
    (b,) = queue.claim(W2, 1, _lease(clock, 10), clock())
    clock.advance(10)
    assert queue.expired_leases(clock()) == []  # b's lease ends now, not before
    clock.advance(5)
    assert [job.id for job in queue.expired_leases(clock())] == [b.id]
    clock.advance(10)
    expired = queue.expired_leases(clock())
    assert [job.id for job in expired] == [b.id, a.id]
    assert (expired[0].worker, expired[0].state) == (W2, JobState.RUNNING)
    assert [job.id for job in queue.expired_leases(clock(), limit=1)] == [b.id]


def test_extended_leases_do_not_expire(queue, clock):
    _run(queue, clock, "a", "b")
    a, b = _claim(queue, clock)
    later = _lease(clock, 60)
    assert queue.extend_leases(W1, [a.id, b.id + 100], later) == 1
    assert queue.extend_leases(W2, [b.id], later) == 0
    assert queue.extend_leases(W1, [], later) == 0
    clock.advance(31)
    assert [job.id for job in queue.expired_leases(clock())] == [b.id]
    job = queue.get_job(a.id)
    assert job is not None
    assert job.lease_expires_at == later


def test_a_start_is_noted_once_for_the_holder(queue, clock):
    _run(queue, clock, "a", "b")
    a, b = _claim(queue, clock)
    started = clock()
    queue.mark_started(W1, [a.id], started)
    queue.mark_started(W2, [b.id], started)
    clock.advance(3)
    queue.mark_started(W1, [a.id], clock())
    queue.mark_started(W1, [], clock())
    jobs = {job.id: job for job in queue.jobs_of_runs([a.run_id])}
    assert jobs[a.id].started_at == started
    assert jobs[b.id].started_at is None


def test_next_due_is_the_earliest_ready_job(queue, clock):
    assert queue.next_due(clock()) is None
    run_id = _run(queue, clock, "a", NewJob("b", 3, needs=["a"]))
    clock.advance(5)
    _run(queue, clock, "a", pipeline="q")
    assert queue.next_due(clock()) == START  # past already: due now
    assert queue.next_due(clock(), [("q", "a")]) == clock()
    assert queue.next_due(clock(), [("p", "b")]) is None  # blocked
    (ref,) = _claim(queue, clock, steps=[("p", "a")])
    assert ref.run_id == run_id
    assert queue.next_due(clock(), [("p", "a")]) is None  # running
    assert queue.next_due(clock()) == clock()


def test_times_come_back_in_utc(queue, clock):
    plus_two = timezone(timedelta(hours=2))
    run_id = queue.create_run("p", SOURCE, [NewJob("a", 1)], START.astimezone(plus_two))
    job = _jobs(queue, run_id)["a"]
    assert job.created_at == START
    assert job.created_at.utcoffset() == timedelta(0)


# --- attempts --------------------------------------------------------------------------


def test_attempts_are_recorded_in_order(queue, clock):
    run_id = _run(queue, clock, "a", "b")
    a, b = _claim(queue, clock)
    held = _held(queue, a.id)
    ended = clock() + timedelta(seconds=2)
    first = queue.add_step_run(
        held,
        Outcome.FAILED,
        started_at=clock(),
        ended_at=ended,
        error="bad\x00",
        report={"rows": 3},
    )
    queue.add_step_runs(
        W2, Outcome.SUCCEEDED, [(b, clock(), ended, {}), (a, None, ended, {"n": {"m": 1}})]
    )
    queue.add_step_runs(W2, Outcome.SUCCEEDED, [])
    attempts = queue.step_runs_of([a.id, b.id])
    assert attempts[0].id == first
    assert [(s.job_id, s.attempt, s.worker, s.outcome) for s in attempts] == [
        (a.id, 1, W1, Outcome.FAILED),
        (b.id, 1, W2, Outcome.SUCCEEDED),
        (a.id, 1, W2, Outcome.SUCCEEDED),
    ]
    assert (attempts[0].error, attempts[0].report, attempts[0].duration_ms) == (
        "bad\\0",
        {"rows": 3},
        2000.0,
    )
    assert (attempts[2].error, attempts[2].report, attempts[2].duration_ms) == (
        None,
        {"n": {"m": 1}},
        None,
    )
    assert [s.job_id for s in queue.step_runs_of([b.id])] == [b.id]
    assert {job.step for job in queue.jobs_of_runs([run_id])} == {"a", "b"}


# --- listing and counting --------------------------------------------------------------


def test_listings_are_newest_first_and_continue_after_a_cursor(queue, clock):
    ids = [_jobs(queue, _run(queue, clock, "a"))["a"].id for _ in range(5)]
    page = queue.list_jobs(JobFilter(), None, 2)
    assert [job.id for job in page] == [ids[4], ids[3]]
    assert [job.id for job in queue.list_jobs(JobFilter(), page[-1].id, 2)] == [ids[2], ids[1]]
    assert [job.id for job in queue.list_jobs(JobFilter(), ids[1], 2)] == [ids[0]]
    assert queue.list_jobs(JobFilter(), ids[0], 2) == []


_FILTERS = {
    "everything": (JobFilter(), {"p-a", "p-b", "q-a", "late", "odd"}),
    "states": (JobFilter(states=(JobState.RUNNING, JobState.BLOCKED)), {"p-a", "p-b"}),
    "pipeline": (JobFilter(pipeline="q"), {"q-a"}),
    "bucket": (JobFilter(bucket="other"), {"odd"}),
    "key prefix": (JobFilter(key_prefix="in/ab"), {"late"}),
    "key prefix, literally": (JobFilter(key_prefix="in/a_"), {"odd"}),
    "since": (JobFilter(since=START + timedelta(seconds=10)), {"late", "odd"}),
    "until": (JobFilter(until=START + timedelta(seconds=10)), {"p-a", "p-b", "q-a"}),
    "none": (JobFilter(pipeline="missing"), set()),
}


@pytest.mark.parametrize("name", list(_FILTERS))
def test_a_filter_selects_what_it_names(queue, clock, name):
    where, expected = _FILTERS[name]
    labels = _labelled_jobs(queue, clock)
    found = {labels[job.id] for job in queue.list_jobs(where, None, 100)}
    assert found == expected
    counts = queue.count_jobs(where)
    assert sum(counts.values()) == len(expected)
    assert all(count > 0 for count in counts.values())


def test_a_filter_by_ids_selects_those(queue, clock):
    labels = _labelled_jobs(queue, clock)
    by_label = {label: job_id for job_id, label in labels.items()}
    where = JobFilter(job_ids=(by_label["q-a"], by_label["odd"]))
    assert {labels[job.id] for job in queue.list_jobs(where, None, 100)} == {"q-a", "odd"}


def _labelled_jobs(queue: JobQueue, clock: FakeClock) -> dict[int, str]:
    """Five jobs to filter: a blocked and a running one in pipeline p, one of q, one made
    10 s later, and one in another bucket under a key with a LIKE wildcard."""
    p = _run(queue, clock, NewJob("a", 3, needs=["b"]), "b")
    _claim(queue, clock, steps=[("p", "b")])
    q = _run(queue, clock, "a", pipeline="q")
    clock.advance(10)
    late = _run(queue, clock, "late", source=RunSource("inbox", "in/ab", "v1", None, EVENT))
    odd = _run(queue, clock, "odd", source=RunSource("other", "in/a_b", "v1", None, EVENT))
    labels: dict[int, str] = {}
    for run_id, prefix in ((p, "p-"), (q, "q-")):
        labels |= {job.id: prefix + job.step for job in queue.jobs_of_runs([run_id])}
    labels |= {job.id: job.step for job in queue.jobs_of_runs([late, odd])}
    return labels


def test_counts_are_by_state(queue, clock):
    assert queue.count_jobs(JobFilter()) == {}
    _run(queue, clock, "a", "b", NewJob("c", 3, needs=["a"]))
    _claim(queue, clock, limit=1)
    assert queue.count_jobs(JobFilter()) == {
        JobState.RUNNING: 1,
        JobState.AVAILABLE: 1,
        JobState.BLOCKED: 1,
    }


def _state_of(queue: JobQueue, run_id: int) -> RunState:
    run = queue.get_run(run_id)
    assert run is not None
    return run.state
