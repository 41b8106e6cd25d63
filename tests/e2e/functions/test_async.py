"""Asynchronous invocations through the durable queue: S3 notifications naming a
function's ARN invoke it with S3's event, ``InvocationType: Event`` queues a payload,
and a failing function is retried as configured, then left in the dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chute.queue.records import Job, JobFilter
from chute.queue.states import JobState, ObjectStatus
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import LiveServer, start_server, wait_until
from tests.e2e.functions.test_lambda_api import CODE, lambda_client
from tests.e2e.s3.conftest import s3_client

ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("async")
    config = folder / "chute.toml"
    config.write_text(f"""
data_dir = "{folder / "data"}"
buckets = ["uploads", "piped", "loops", "piped-loops", "relay-a", "relay-b"]

[worker]
processes = 1
poll_seconds = 0.2

[functions.copier]
handler = "s3_handlers.copy"
code = "{CODE}"
timeout_seconds = 30
permissions = [
    {{ bucket = "uploads", prefix = "in/", access = "read" }},
    {{ bucket = "uploads", prefix = "copied/", access = "write" }},
]

[functions.piper]
handler = "s3_handlers.copy"
code = "{CODE}"
timeout_seconds = 30
permissions = [
    {{ bucket = "piped", prefix = "in/", access = "read" }},
    {{ bucket = "piped", prefix = "copied/", access = "write" }},
]

[pipelines.piping]
trigger = {{ bucket = "piped", prefix = "in/" }}
steps = [{{ name = "copy", function = "piper" }}]

[functions.looper]
handler = "s3_handlers.again"
code = "{CODE}"
timeout_seconds = 30
permissions = [
    {{ bucket = "loops", access = "write" }},
    {{ bucket = "piped-loops", access = "write" }},
]

[functions.relayer]
handler = "s3_handlers.relay"
code = "{CODE}"
timeout_seconds = 30
environment = {{ RELAY_TO = "relay-a" }}
permissions = [{{ bucket = "relay-a", access = "write" }}]

[pipelines.relaying]
trigger = {{ bucket = "relay-a" }}
output_bucket = "relay-b"
steps = [{{ name = "copy", processor = "copy" }}]

[pipelines.looping]
trigger = {{ bucket = "piped-loops" }}
steps = [
    {{ name = "again", function = "looper" }},
    {{ name = "after", processor = "noop", needs = ["again"] }},
]

[functions.failing]
handler = "handlers.fail"
code = "{CODE}"
maximum_retry_attempts = 1
retry_delay_seconds = 0
""")
    return config


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[LiveServer]:
    with start_server(config.parent / "data", {"CHUTE_CONFIG": str(config)}) as live:
        yield live


@pytest.fixture(scope="module")
def runtime(config: Path, server: LiveServer) -> Iterator[Runtime]:
    rt = open_runtime(load_settings(config), sweep=False)
    yield rt
    rt.close()


def test_an_s3_notification_invokes_the_function_with_s3s_event(server: LiveServer) -> None:
    s3 = s3_client(server)
    s3.put_bucket_notification_configuration(
        Bucket="uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "copy-uploads",
                    "LambdaFunctionArn": ARN.format("copier"),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
                }
            ]
        },
    )
    s3.put_object(Bucket="uploads", Key="in/a photo.jpg", Body=b"jpeg bytes")
    wait_until(lambda: _exists(s3, "uploads", "copied/in/a photo.jpg"), timeout=60)
    got = s3.get_object(Bucket="uploads", Key="copied/in/a photo.jpg")["Body"].read()
    assert got == b"jpeg bytes"


def test_an_event_invocation_is_queued_and_run(server: LiveServer) -> None:
    s3 = s3_client(server)
    s3.put_object(Bucket="uploads", Key="in/queued.txt", Body=b"queued")
    event = {
        "Records": [{"s3": {"bucket": {"name": "uploads"}, "object": {"key": "in/queued.txt"}}}]
    }
    answer = lambda_client(server).invoke(
        FunctionName="copier", InvocationType="Event", Payload=json.dumps(event)
    )
    assert answer["StatusCode"] == 202
    wait_until(lambda: _exists(s3, "uploads", "copied/in/queued.txt"), timeout=60)


def test_a_failing_event_is_retried_then_dead(server: LiveServer, runtime: Runtime) -> None:
    answer = lambda_client(server).invoke(
        FunctionName="failing", InvocationType="Event", Payload=b'{"why": "always"}'
    )
    assert answer["StatusCode"] == 202

    def dead() -> list[Job]:
        found = runtime.status.jobs(CTX, JobFilter(pipeline="function:failing")).jobs
        return [job for job in found if job.state is JobState.DEAD]

    wait_until(lambda: bool(dead()), timeout=60)
    (job,) = dead()
    assert job.attempt == 2  # the first attempt and one retry
    assert job.last_error is not None
    assert "ValueError: no good: always" in job.last_error


def test_a_function_triggering_itself_is_stopped_after_16_invocations(
    server: LiveServer, runtime: Runtime
) -> None:
    # boto3 in the function sends the invocation's trace header back with its writes;
    # each invocation they trigger is one deeper, and the 17th is not made.
    s3 = s3_client(server)
    s3.put_bucket_notification_configuration(
        Bucket="loops",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": ARN.format("looper"), "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket="loops", Key="x", Body=b"start")

    job = _stopped(runtime, "function:looper")
    assert job.attempt == 0  # stopped before any attempt
    assert job.last_error is not None
    assert job.last_error.startswith("recursive loop detected: invoking 'looper' would make 17")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket="loops")["Contents"]]
    assert sorted(keys, key=len) == ["x" + "+" * depth for depth in range(17)]
    succeeded = runtime.status.jobs(CTX, JobFilter(pipeline="function:looper")).jobs
    assert sum(job.state is JobState.SUCCEEDED for job in succeeded) == 16


def test_a_pipeline_whose_function_step_triggers_it_is_stopped_too(
    server: LiveServer, runtime: Runtime
) -> None:
    s3 = s3_client(server)
    s3.put_object(Bucket="piped-loops", Key="y", Body=b"start")

    job = _stopped(
        runtime, "looping"
    )  # the step after it waits, for a redrive to run them in order
    assert job.last_error is not None
    assert job.last_error.startswith("recursive loop detected: invoking 'again' would make 17")

    def waiting() -> list[tuple[str, int]]:
        found = runtime.status.jobs(CTX, JobFilter(pipeline="looping", states=(JobState.BLOCKED,)))
        return [(blocked.step, blocked.run_id) for blocked in found.jobs]

    # The run before it may still be finishing the invocation that made this one.
    wait_until(lambda: waiting() == [("after", job.run_id)], timeout=60)
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket="piped-loops")["Contents"]]
    assert sorted(keys, key=len) == ["y" + "+" * depth for depth in range(17)]


def test_a_loop_through_a_pipelines_outputs_is_stopped_too(
    server: LiveServer, runtime: Runtime
) -> None:
    # The pipeline copies relay-a to relay-b, whose notifications invoke the function,
    # which writes to relay-a: the outputs' writes are as deep as the change they copy.
    s3 = s3_client(server)
    s3.put_bucket_notification_configuration(
        Bucket="relay-b",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": ARN.format("relayer"), "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket="relay-a", Key="z", Body=b"start")

    job = _stopped(runtime, "function:relayer")
    assert job.last_error is not None
    assert job.last_error.startswith("recursive loop detected: invoking 'relayer' would make 17")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket="relay-a")["Contents"]]
    assert sorted(keys, key=len) == ["z" + "+" * depth for depth in range(17)]


def _stopped(runtime: Runtime, pipeline: str) -> Job:
    """The one dead job of ``pipeline``, once there is one: the invocation a loop's
    guard stopped."""

    def dead() -> list[Job]:
        found = runtime.status.jobs(CTX, JobFilter(pipeline=pipeline)).jobs
        return [job for job in found if job.state is JobState.DEAD]

    wait_until(lambda: bool(dead()), timeout=120)
    (job,) = dead()
    return job


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def test_a_pipeline_step_invokes_a_function(server: LiveServer, runtime: Runtime) -> None:
    s3 = s3_client(server)
    s3.put_object(Bucket="piped", Key="in/report.csv", Body=b"a,b\n")
    wait_until(lambda: _exists(s3, "piped", "copied/in/report.csv"), timeout=60)
    wait_until(
        lambda: (
            runtime.status.status(CTX, "piped", "in/report.csv").status is ObjectStatus.SUCCEEDED
        ),
        timeout=30,
    )
    status = runtime.status.status(CTX, "piped", "in/report.csv")
    assert [view.run.pipeline for view in status.runs] == ["piping"]
