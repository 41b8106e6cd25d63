"""Hostile answers to queue steps' tasks, with boto3's stepfunctions client: late ones
(after the step's timeout or a missed heartbeat, before the reaper runs), racing ones,
answers for a run whose object was overwritten, outputs Step Functions refuses, odd
tokens, and consumers whose key reads another queue, or only theirs. Each gets Step
Functions' error, and at most one answer is ever recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chute.queue.records import JobFilter
from chute.queue.states import JobState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import CLIENT_ENV, LiveServer, start_server, wait_until
from tests.e2e.s3.conftest import s3_client
from tests.e2e.sqs.conftest import sqs_client, states_client
from tests.e2e.test_auth import chute

STEPS = {
    # step timeout 2 s, far shorter than the pool's 30 s lease (reaped every 15 s)
    "fast": 'queue = "fast-tasks"\ntimeout_seconds = 2\nretry = { max_attempts = 1 }',
    # heartbeat every 1 s required, timeout 30 s
    "hb": 'queue = "hb-tasks"\ntimeout_seconds = 30\nheartbeat_seconds = 1\n'
    "retry = { max_attempts = 1 }",
    "race": 'queue = "race-tasks"\ntimeout_seconds = 120\n'
    "retry = { max_attempts = 3, base_delay = 0, jitter = false }",
    "out": 'queue = "out-tasks"\ntimeout_seconds = 120\nretry = { max_attempts = 1 }',
    "gone": 'queue = "gone-tasks"\ntimeout_seconds = 120\nretry = { max_attempts = 1 }',
    "over": 'queue = "over-tasks"\ntimeout_seconds = 120\nretry = { max_attempts = 1 }',
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("review-queue-steps")
    config = folder / "chute.toml"
    text = f'data_dir = "{folder / "data"}"\nbuckets = ["scans"]\n'
    text += "[worker]\nprocesses = 1\npoll_seconds = 0.2\n"  # lease_seconds: default 30
    for name, body in STEPS.items():
        text += f'\n[pipelines.{name}]\ntrigger = {{ bucket = "scans", prefix = "{name}/" }}\n'
        text += f'[[pipelines.{name}.steps]]\nname = "s"\n{body}\n'
    config.write_text(text)
    return config


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[LiveServer]:
    with start_server(config.parent / "data", {"CHUTE_CONFIG": str(config)}) as live:
        for name in STEPS:
            sqs_client(live).create_queue(QueueName=f"{name}-tasks")
        yield live


@pytest.fixture(scope="module")
def runtime(config: Path, server: LiveServer) -> Iterator[Runtime]:
    rt = open_runtime(load_settings(config), sweep=False)
    yield rt
    rt.close()


def task(server: LiveServer, queue: str) -> str:
    sqs = sqs_client(server)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    (message,) = got["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return str(json.loads(message["Body"])["taskToken"])


def code_of(call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        return (
            f"{exc.response['ResponseMetadata']['HTTPStatusCode']} {exc.response['Error']['Code']}"
        )
    return "200 OK"


def jobs(runtime: Runtime, pipeline: str, key: str) -> list[Any]:
    return runtime.status.jobs(CTX, JobFilter(pipeline=pipeline, key_prefix=key)).jobs


def test_an_answer_after_the_step_timeout_is_refused(server: LiveServer, runtime: Runtime) -> None:
    """An answer after the step's timeout (2 s) is TaskTimedOut, though the pool's
    reaper (every lease_seconds/2 = 15 s) has not yet failed the attempt."""
    states = states_client(server)
    s3_client(server).put_object(Bucket="scans", Key="fast/a", Body=b"x")
    token = task(server, "fast-tasks")
    time.sleep(2.5)
    got = code_of(lambda: states.send_task_success(taskToken=token, output='{"late": 1}'))
    (job,) = jobs(runtime, "fast", "fast/a")
    assert got == "400 TaskTimedOut"
    assert job.state in (JobState.RUNNING, JobState.DEAD)  # reaped, or soon


def test_a_heartbeat_after_the_heartbeat_timeout_is_refused(
    server: LiveServer, runtime: Runtime
) -> None:
    """Missing ``heartbeat_seconds`` (1 s) times the task out: a late heartbeat, and
    what follows, is TaskTimedOut."""
    states = states_client(server)
    s3_client(server).put_object(Bucket="scans", Key="hb/a", Body=b"x")
    token = task(server, "hb-tasks")
    time.sleep(1.5)
    beat = code_of(lambda: states.send_task_heartbeat(taskToken=token))
    done = code_of(lambda: states.send_task_success(taskToken=token, output="{}"))
    assert (beat, done) == ("400 TaskTimedOut",) * 2, (beat, done)


def test_concurrent_answers_to_one_token(server: LiveServer, runtime: Runtime) -> None:
    """Of six answers racing for one token, one is taken; the others are told
    TaskDoesNotExist."""
    s3_client(server).put_object(Bucket="scans", Key="race/a", Body=b"x")
    token = task(server, "race-tasks")
    answers: list[str] = []
    barrier = threading.Barrier(6)

    def answer(i: int) -> None:
        states = states_client(server)
        barrier.wait()
        if i % 2:
            call = lambda: states.send_task_failure(taskToken=token, error="E", cause=str(i))  # noqa: E731
        else:
            call = lambda: states.send_task_success(taskToken=token, output=json.dumps({"i": i}))  # noqa: E731
        answers.append(f"{i}:{code_of(call)}")

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [a for a in answers if a.endswith("200 OK")]
    assert len(accepted) == 1, sorted(answers)
    assert all(a.endswith(("200 OK", "400 TaskDoesNotExist")) for a in answers), answers

    def settled() -> bool:  # succeeded, or failed and sent again
        (job,) = jobs(runtime, "race", "race/a")
        return job.state is JobState.SUCCEEDED or job.attempt == 2

    wait_until(settled)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("[1, 2]", "200 OK"),
        ('"text"', "200 OK"),
        ("null", "200 OK"),
        ("NaN", "400 InvalidOutput"),  # not JSON: Step Functions refuses it
        ("[" * 50000 + "]" * 50000, "400 InvalidOutput"),  # 100 KB, too deep
        (json.dumps({"k": "x" * (256 * 1024)}), "400 InvalidOutput"),
    ],
)
def test_outputs(server: LiveServer, runtime: Runtime, output: str, expected: str) -> None:
    key = f"out/{abs(hash(output)) % 10**8}"
    s3_client(server).put_object(Bucket="scans", Key=key, Body=b"x")
    token = task(server, "out-tasks")
    got = code_of(lambda: states_client(server).send_task_success(taskToken=token, output=output))
    if got != "200 OK":
        states_client(server).send_task_success(taskToken=token, output="{}")
    assert got == expected
    wait_until(lambda: jobs(runtime, "out", key)[0].state is JobState.SUCCEEDED, 30)


@pytest.mark.parametrize(
    "token",
    ["chute1.1.1.1.\u00e9t\u00e9", "chute1.\u00b2.1.1.x", "chute1.99999999999999999999999.1.1.x"],
)
def test_odd_tokens_get_invalid_token_not_500(server: LiveServer, token: str) -> None:
    got = code_of(lambda: states_client(server).send_task_success(taskToken=token, output="{}"))
    assert got == "400 InvalidToken", got


def test_a_key_for_another_queue_cannot_answer(server: LiveServer, tmp_path: Path) -> None:
    sqs_client(server).create_queue(QueueName="elsewhere")
    made = chute(
        "keys", "create", "--name", "other-consumer", "--queue", "elsewhere", "--access",
        "read", "--json", cwd=tmp_path, env={"CHUTE_URL": server.url, **CLIENT_ENV},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    other = states_client(server, key["id"], key["secret"])
    s3_client(server).put_object(Bucket="scans", Key="race/other", Body=b"x")
    token = task(server, "race-tasks")
    # A made-up secret with another attempt number learns nothing either.
    guess = ".".join([*token.split(".")[:2], "7", "7", "guess"])
    results = {
        "success": code_of(lambda: other.send_task_success(taskToken=token, output="{}")),
        "heartbeat": code_of(lambda: other.send_task_heartbeat(taskToken=token)),
        "guess": code_of(lambda: other.send_task_success(taskToken=guess, output="{}")),
    }
    states_client(server).send_task_success(taskToken=token, output="{}")
    assert set(results.values()) == {"403 AccessDeniedException"}, results


def test_an_overwritten_object_while_its_task_waits(server: LiveServer, runtime: Runtime) -> None:
    """The old version's task is refused once its object is overwritten, and its run
    ends superseded."""
    s3 = s3_client(server)
    s3.put_object(Bucket="scans", Key="over/a", Body=b"v1")
    first = task(server, "over-tasks")
    s3.put_object(Bucket="scans", Key="over/a", Body=b"v2")
    second = task(server, "over-tasks")
    got = code_of(
        lambda: states_client(server).send_task_success(taskToken=first, output='{"v": 1}')
    )
    states_client(server).send_task_success(taskToken=second, output='{"v": 2}')
    wait_until(
        lambda: all(j.state is not JobState.RUNNING for j in jobs(runtime, "over", "over/a"))
    )
    found = runtime.status.status(CTX, "scans", "over/a")
    with runtime.catalog.read() as session:
        states = [r.state.value for r in session.queue.runs_of("scans", "over/a")]
    assert got == "400 TaskTimedOut", (got, states)
    assert sorted(states) == ["succeeded", "superseded"], states
    assert found.metadata.get("v") == 2


def test_the_old_runs_answer_last(server: LiveServer, runtime: Runtime) -> None:
    """The overwritten version's task answered after the new one's is refused, and the
    object shows the new version's metadata."""
    s3 = s3_client(server)
    s3.put_object(Bucket="scans", Key="over/b", Body=b"v1")
    first = task(server, "over-tasks")
    s3.put_object(Bucket="scans", Key="over/b", Body=b"v2")
    second = task(server, "over-tasks")
    states = states_client(server)
    states.send_task_success(taskToken=second, output='{"v": 2}')
    got = code_of(lambda: states.send_task_success(taskToken=first, output='{"v": 1}'))
    wait_until(
        lambda: all(j.state is not JobState.RUNNING for j in jobs(runtime, "over", "over/b"))
    )
    found = runtime.status.status(CTX, "scans", "over/b")
    assert got == "400 TaskTimedOut"
    assert found.metadata.get("v") == 2


def test_a_least_privilege_consumer_answering_twice(server: LiveServer, tmp_path: Path) -> None:
    """A key that reads only the task's queue answers it, and is told TaskDoesNotExist
    when it answers again (the task's queue is known after it ended)."""
    made = chute(
        "keys", "create", "--name", "race-consumer", "--queue", "race-tasks", "--access",
        "read", "--json", cwd=tmp_path, env={"CHUTE_URL": server.url, **CLIENT_ENV},
    )  # fmt: skip
    key = json.loads(made.stdout)
    mine = states_client(server, key["id"], key["secret"])
    s3_client(server).put_object(Bucket="scans", Key="race/twice", Body=b"x")
    token = task(server, "race-tasks")
    once = code_of(lambda: mine.send_task_success(taskToken=token, output="{}"))
    twice = code_of(lambda: mine.send_task_success(taskToken=token, output="{}"))
    assert (once, twice) == ("200 OK", "400 TaskDoesNotExist"), (once, twice)


RESTART = """
data_dir = "{data}"
buckets = ["scans"]
[worker]
processes = 1
poll_seconds = 0.2
lease_seconds = 2

[pipelines.pg]
trigger = {{ bucket = "scans", prefix = "pg/" }}
[[pipelines.pg.steps]]
name = "s"
queue = "pg-tasks"
timeout_seconds = 120
"""


def test_a_restart_while_a_task_is_out(tmp_path: Path) -> None:
    """The handed-over job survives a stop and start; its old token still answers."""
    config = tmp_path / "chute.toml"
    config.write_text(RESTART.format(data=tmp_path / "data"))
    env = {"CHUTE_CONFIG": str(config)}
    with start_server(tmp_path / "data", env) as live:
        sqs_client(live).create_queue(QueueName="pg-tasks")
        s3_client(live).put_object(Bucket="scans", Key="pg/restart", Body=b"x")
        token = task(live, "pg-tasks")
    time.sleep(2.5)  # longer than the pool's lease
    with start_server(tmp_path / "data", env) as live:
        time.sleep(1.5)  # a few reaps and renewals
        rt = open_runtime(load_settings(config), sweep=False)
        try:
            (job,) = jobs(rt, "pg", "pg/restart")
            before = (job.state, job.attempt, job.worker)
            got = code_of(
                lambda: states_client(live).send_task_success(taskToken=token, output="{}")
            )
            wait_until(lambda: jobs(rt, "pg", "pg/restart")[0].state is not JobState.RUNNING)
            after = jobs(rt, "pg", "pg/restart")[0].state
        finally:
            rt.close()
    assert (before[0], got, after) == (JobState.RUNNING, "200 OK", JobState.SUCCEEDED)
