"""Queue steps' answers on both catalogs: of answers racing for one task, exactly one is
recorded and the others are told why they lost (the job's row is locked while an answer
is checked and recorded, ``FOR UPDATE`` on PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chute.pipelines.tasks import TOKEN_KEY, TaskDoesNotExist, Token
from chute.queue.records import JobFilter
from chute.queue.states import JobState
from chute.runtime import open_runtime
from chute.settings import load_settings
from chute.sqs.service import Call
from tests.context import CTX

pytestmark = pytest.mark.parametrize("catalog_url", ["sqlite", "postgres"], indirect=True)


def test_one_of_racing_answers_is_recorded(catalog_url: str, tmp_path: Path) -> None:
    steps = [{"name": "hand", "queue": "work", "retry": {"max_attempts": 3, "base_delay": 0}}]
    pipelines = {"tasks": {"trigger": {"bucket": "inbox"}, "steps": steps}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    runtime = open_runtime(settings)
    try:
        assert runtime.queues is not None
        runtime.queues.create_queue(Call(CTX, "http://localhost", {"QueueName": "work"}))
        runtime.objects.put(CTX, "inbox", "a.pdf", [b"x"])
        claimed = runtime.broker.claim("pool", 10, lease=30)
        assert (claimed.tasks, claimed.settled, claimed.handed) == ([], [], 1)
        (job,) = runtime.status.jobs(CTX, JobFilter(pipeline="tasks")).jobs
        assert (job.state, job.worker) == (JobState.RUNNING, "sqs:work")
        token = str(Token(job.id, job.attempt, job.claims, job.payload[TOKEN_KEY]))
        barrier = threading.Barrier(6)
        outcomes: list[str] = []

        def answer(index: int) -> None:
            barrier.wait()
            try:
                if index % 2:
                    runtime.broker.tasks.fail(CTX, token, "Failed", str(index))
                else:
                    runtime.broker.tasks.succeed(CTX, token, f'{{"n": {index}}}')
                outcomes.append("taken")
            except TaskDoesNotExist:
                outcomes.append("lost")

        threads = [threading.Thread(target=answer, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["lost"] * 5 + ["taken"]
        (after,) = runtime.status.jobs(CTX, JobFilter(pipeline="tasks")).jobs
        _, attempts = runtime.status.job(CTX, after.id)
        assert len(attempts) == 1  # one answer recorded
        assert after.state in (JobState.SUCCEEDED, JobState.RETRYABLE)
    finally:
        runtime.close()
