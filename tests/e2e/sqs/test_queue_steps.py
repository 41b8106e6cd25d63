"""Queue steps with real clients: a pipeline step hands its object to an SQS queue, an
external boto3 consumer does the work and answers with the task token through boto3's
``stepfunctions`` client (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat), and the
run goes on with the consumer's output as the step's metadata. A failure is retried
with a new message and token, an unanswered task times out, and stale, forged and
malformed answers get Step Functions' errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.queue.records import JobFilter
from chute.queue.states import JobState, ObjectStatus
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import LiveServer, start_server, wait_until
from tests.e2e.functions.test_lambda_api import _error
from tests.e2e.s3.conftest import s3_client
from tests.e2e.sqs.conftest import sqs_client, states_client


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("queue-steps")
    config = folder / "chute.toml"
    config.write_text(f"""
data_dir = "{folder / "data"}"
buckets = ["scans"]

[worker]
processes = 1
poll_seconds = 0.2
lease_seconds = 2

[pipelines.ocr]
trigger = {{ bucket = "scans", prefix = "in/" }}

[[pipelines.ocr.steps]]
name = "read"
queue = "ocr-tasks"
timeout_seconds = 60
retry = {{ max_attempts = 2, base_delay = 0, jitter = false }}

[[pipelines.ocr.steps]]
name = "index"
processor = "noop"
needs = ["read"]
when = "steps.read.metadata.pages > `0`"

[pipelines.slow]
trigger = {{ bucket = "scans", prefix = "slow/" }}

[[pipelines.slow.steps]]
name = "wait"
queue = "slow-tasks"
timeout_seconds = 3
heartbeat_seconds = 1
retry = {{ max_attempts = 1 }}

[pipelines.orphan]
trigger = {{ bucket = "scans", prefix = "orphan/" }}
steps = [{{ name = "lost", queue = "nowhere", retry = {{ max_attempts = 1 }} }}]
""")
    return config


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[LiveServer]:
    with start_server(config.parent / "data", {"CHUTE_CONFIG": str(config)}) as live:
        for name in ("ocr-tasks", "slow-tasks"):
            sqs_client(live).create_queue(QueueName=name)
        yield live


@pytest.fixture(scope="module")
def runtime(config: Path, server: LiveServer) -> Iterator[Runtime]:
    rt = open_runtime(load_settings(config), sweep=False)
    yield rt
    rt.close()


def _task(server: LiveServer, queue: str) -> tuple[dict[str, Any], str, str]:
    """The next task on ``queue``: its S3 record, its token, and its receipt handle."""
    sqs = sqs_client(server)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    (message,) = got["Messages"]
    body = json.loads(message["Body"])
    (record,) = body["Records"]
    return record, body["taskToken"], message["ReceiptHandle"]


def _delete(server: LiveServer, queue: str, receipt: str) -> None:
    sqs = sqs_client(server)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)


def test_a_consumer_does_the_step_and_the_run_goes_on(server: LiveServer, runtime: Runtime) -> None:
    s3, states = s3_client(server), states_client(server)
    s3.put_object(Bucket="scans", Key="in/letter.pdf", Body=b"%PDF- three pages")
    record, token, receipt = _task(server, "ocr-tasks")
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "in/letter.pdf"
    # The consumer reads the object through S3 and writes what it made.
    body = s3.get_object(Bucket="scans", Key=record["s3"]["object"]["key"])["Body"].read()
    s3.put_object(Bucket="scans", Key="text/letter.txt", Body=body.upper())
    states.send_task_heartbeat(taskToken=token)
    states.send_task_success(taskToken=token, output=json.dumps({"pages": 3}))
    _delete(server, "ocr-tasks", receipt)

    def status() -> ObjectStatus:
        return runtime.status.status(CTX, "scans", "in/letter.pdf").status

    wait_until(lambda: status() is ObjectStatus.SUCCEEDED, timeout=30)
    jobs = runtime.status.jobs(CTX, JobFilter(pipeline="ocr")).jobs
    assert {job.step: job.state for job in jobs} == {
        "read": JobState.SUCCEEDED,
        "index": JobState.SUCCEEDED,  # its condition read the consumer's output
    }
    metadata = runtime.status.status(CTX, "scans", "in/letter.pdf").metadata
    assert metadata["pages"] == 3
    # The task was answered: its token is good no more; one made up for it never was.
    status_code, code, _ = _error(lambda: states.send_task_success(taskToken=token, output="{}"))
    assert (status_code, code) == (400, "TaskDoesNotExist")
    forged = token.rsplit(".", 1)[0] + ".made-up"
    status_code, code, _ = _error(lambda: states.send_task_success(taskToken=forged, output="{}"))
    assert (status_code, code) == (400, "InvalidToken")


def test_a_failed_task_is_sent_again_with_a_new_token(server: LiveServer, runtime: Runtime) -> None:
    s3, states = s3_client(server), states_client(server)
    s3.put_object(Bucket="scans", Key="in/blurry.pdf", Body=b"%PDF-")
    _, first, receipt = _task(server, "ocr-tasks")
    states.send_task_failure(taskToken=first, error="OCRFailed", cause="too blurry")
    _delete(server, "ocr-tasks", receipt)
    record, second, receipt = _task(server, "ocr-tasks")
    assert record["s3"]["object"]["key"] == "in/blurry.pdf"
    assert second != first
    status_code, code, _ = _error(lambda: states.send_task_success(taskToken=first, output="{}"))
    assert (status_code, code) == (400, "TaskDoesNotExist")
    # No pages: the next step is skipped, and the run is done.
    states.send_task_success(taskToken=second, output=json.dumps({"pages": 0}))
    _delete(server, "ocr-tasks", receipt)
    wait_until(
        lambda: (
            runtime.status.status(CTX, "scans", "in/blurry.pdf").status is ObjectStatus.SUCCEEDED
        ),
        timeout=30,
    )
    (read,) = [
        job
        for job in runtime.status.jobs(
            CTX, JobFilter(pipeline="ocr", key_prefix="in/blurry.pdf")
        ).jobs
        if job.step == "read"
    ]
    assert read.attempt == 2


def test_a_task_nobody_answers_times_out(server: LiveServer, runtime: Runtime) -> None:
    s3, states = s3_client(server), states_client(server)
    s3.put_object(Bucket="scans", Key="slow/big.pdf", Body=b"%PDF-")
    _, token, _ = _task(server, "slow-tasks")
    states.send_task_heartbeat(taskToken=token)  # then the consumer goes quiet

    def dead() -> list[Any]:
        return runtime.status.jobs(CTX, JobFilter(pipeline="slow", states=(JobState.DEAD,))).jobs

    wait_until(lambda: bool(dead()), timeout=30)
    (job,) = dead()
    assert job.last_error is not None
    assert job.last_error.startswith("States.Timeout: no consumer of SQS queue 'slow-tasks'")
    status_code, code, _ = _error(lambda: states.send_task_success(taskToken=token, output="{}"))
    assert (status_code, code) == (400, "TaskTimedOut")


def test_a_step_whose_queue_is_missing_fails_with_the_reason(
    server: LiveServer, runtime: Runtime
) -> None:
    s3_client(server).put_object(Bucket="scans", Key="orphan/x.pdf", Body=b"%PDF-")

    def dead() -> list[Any]:
        found = runtime.status.jobs(CTX, JobFilter(pipeline="orphan", states=(JobState.DEAD,)))
        return found.jobs

    wait_until(lambda: bool(dead()), timeout=30)
    (job,) = dead()
    assert job.last_error == "no SQS queue named 'nowhere' exists for step 'lost'"


@pytest.mark.parametrize(
    ("token", "output", "code"),
    [
        ("not-a-token", "{}", "InvalidToken"),
        ("chute1.999999.1.1.x", "{}", "TaskDoesNotExist"),
        ("chute1.1.1.1.x", "not json", "InvalidOutput"),
    ],
)
def test_bad_answers_get_step_functions_errors(
    server: LiveServer, token: str, output: str, code: str
) -> None:
    states = states_client(server)
    status_code, found, _ = _error(lambda: states.send_task_success(taskToken=token, output=output))
    assert (status_code, found) == (400, code)
