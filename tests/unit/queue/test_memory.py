"""What the memory queue offers beyond the contract every backend keeps (that is
``tests/integration/queue/test_conformance.py``): what tests inspect, announcements,
copies, and one lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chute.queue.memory import MemoryJobQueue
from chute.queue.records import JobFilter, NewJob, RunSource
from chute.queue.states import JobState

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)
SOURCE = RunSource("inbox", "in/a.txt", "v1", None, {"eventName": "ObjectCreated:Put"})


def _queue_with(*steps: NewJob) -> tuple[MemoryJobQueue, int]:
    queue = MemoryJobQueue()
    return queue, queue.create_run("p", SOURCE, list(steps), NOW)


def test_dead_letters_are_the_dead_jobs_oldest_first():
    queue, _ = _queue_with(NewJob("a", 1), NewJob("b", 1), NewJob("c", 1))
    refs = queue.claim("w", 3, LEASE, NOW)
    for ref in reversed(refs[:2]):
        job = queue.fenced(ref.id, ref.attempt, "w")
        assert job is not None
        queue.finish(job, JobState.DEAD, NOW, error=f"{ref.step} failed")
    dead = queue.dead_letters()
    assert [(job.step, job.last_error) for job in dead] == [("a", "a failed"), ("b", "b failed")]
    assert queue.redrive(JobFilter(), lambda job: 1, NOW) == 2
    assert queue.dead_letters() == []


def test_jobs_becoming_ready_are_announced_at_once():
    heard: list[int] = []
    queue = MemoryJobQueue(on_ready=lambda: heard.append(queue.notices))
    run_id = queue.create_run("p", SOURCE, [NewJob("a", 3), NewJob("b", 3, needs=["a"])], NOW)
    assert heard == [1]
    (ref,) = queue.claim("w", 1, LEASE, NOW)
    job = queue.fenced(ref.id, ref.attempt, "w")
    assert job is not None
    queue.finish(job, JobState.RETRYABLE, NOW, run_at=NOW + timedelta(seconds=5))
    assert queue.notices == 1  # not due yet: nothing to wake up for
    (ref,) = queue.claim("w", 1, LEASE, NOW + timedelta(seconds=5))
    queue.succeed_held([ref.id], "w", NOW)
    assert queue.notices == 1
    assert len(queue.unblock(run_id, NOW)) == 1
    assert heard == [1, 2]


def test_records_are_copies():
    payload = {"body": {"items": [1]}}
    queue, run_id = _queue_with(NewJob("a", 3, payload=payload))
    payload["body"]["items"].append(2)
    (job,) = queue.jobs_of_runs([run_id])
    assert job.payload == {"body": {"items": [1]}}
    job.payload["body"]["items"].append(3)
    job.needs.append("x")
    again = queue.get_job(job.id)
    assert again is not None
    assert (again.payload, again.needs) == ({"body": {"items": [1]}}, [])


def test_what_a_database_refuses_is_refused_whole():
    queue = MemoryJobQueue()
    with pytest.raises(ValueError, match="naive"):
        queue.create_run("p", SOURCE, [], datetime(2030, 1, 1))
    with pytest.raises(TypeError):
        queue.create_run("p", SOURCE, [NewJob("a", 1, payload={"at": NOW})], NOW)
    assert queue.runs_of("inbox", "in/a.txt") == []  # a refused run leaves nothing
    with pytest.raises(KeyError):
        queue.add_jobs(99, "p", SOURCE, [NewJob("a", 1)], NOW)


def test_workers_claiming_at_once_never_share_a_job():
    queue, _ = _queue_with(*(NewJob(f"s{n}", 1) for n in range(200)))

    def drain(worker: str) -> list[int]:
        taken: list[int] = []
        while refs := queue.claim(worker, 3, LEASE, NOW):
            taken += [ref.id for ref in refs]
        return taken

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(drain, ["w1", "w2", "w3", "w4"]))
    every = [job_id for ids in claimed for job_id in ids]
    assert len(every) == len(set(every)) == 200
