"""Dead-letter queue redrive with boto3: StartMessageMoveTask moves a dead-letter queue's
messages back to the queues they came from (or to a destination given), at the rate
asked; ListMessageMoveTasks shows how far a task got, CancelMessageMoveTask stops one;
a queue that is no dead-letter queue, a second task at once and missing queues get
SQS's errors."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROOT_AUTH, LiveServer, wait_until
from tests.e2e.sqs.conftest import sqs_client

ARN = "arn:aws:sqs:us-east-1:000000000000:{}"


def sqs_client_with(server: LiveServer, key: str, secret: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def sqs(live_server: LiveServer) -> Any:
    return sqs_client(live_server)


def _poisoned(sqs: Any, name: str, count: int) -> tuple[str, str, list[str]]:
    """A queue whose ``count`` messages all went to its dead-letter queue: the queue's
    and the dead-letter queue's URLs, and the messages' ids."""
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": ARN.format(f"{name}-dlq"), "maxReceiveCount": 1})
    url = sqs.create_queue(
        QueueName=name, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    ids = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(count)]
    received = 0
    while received < count:  # once each: the next receive moves them
        received += len(
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        )
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return url, dlq, ids


def _drain(sqs: Any, url: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        for message in batch:
            found[message["MessageId"]] = message
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _done(sqs: Any, source: str) -> dict[str, Any]:
    def finished() -> bool:
        (task,) = sqs.list_message_move_tasks(SourceArn=source)["Results"]
        return task["Status"] not in ("RUNNING", "CANCELLING")

    wait_until(finished, timeout=30)
    (task,) = sqs.list_message_move_tasks(SourceArn=source)["Results"]
    result: dict[str, Any] = task
    return result


def test_dead_letters_go_back_to_their_queue(sqs: Any) -> None:
    url, dlq, ids = _poisoned(sqs, "orders", 25)
    started = sqs.start_message_move_task(SourceArn=ARN.format("orders-dlq"))
    assert started["TaskHandle"]
    task = _done(sqs, ARN.format("orders-dlq"))
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 25
    assert task["ApproximateNumberOfMessagesToMove"] == 25
    assert "TaskHandle" not in task  # only a running task has one
    back = _drain(sqs, url)
    assert sorted(back) == sorted(ids)
    for message in back.values():
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # received anew
        assert "DeadLetterQueueSourceArn" not in message["Attributes"]
    assert _drain(sqs, dlq) == {}


def test_a_destination_takes_them_all_at_the_rate_asked(sqs: Any) -> None:
    _, dlq, ids = _poisoned(sqs, "invoices", 6)
    other = sqs.create_queue(QueueName="invoices-review")["QueueUrl"]
    began = time.monotonic()
    sqs.start_message_move_task(
        SourceArn=ARN.format("invoices-dlq"),
        DestinationArn=ARN.format("invoices-review"),
        MaxNumberOfMessagesPerSecond=3,
    )
    task = _done(sqs, ARN.format("invoices-dlq"))
    assert time.monotonic() - began >= 1.0  # 6 messages at 3 a second
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 6)
    assert task["DestinationArn"] == ARN.format("invoices-review")
    assert task["MaxNumberOfMessagesPerSecond"] == 3
    assert sorted(_drain(sqs, other)) == sorted(ids)
    assert _drain(sqs, dlq) == {}


def test_one_task_at_a_time_and_a_cancel_stops_it(sqs: Any) -> None:
    _, dlq, _ = _poisoned(sqs, "slow", 20)
    source = ARN.format("slow-dlq")
    handle = sqs.start_message_move_task(SourceArn=source, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    with pytest.raises(ClientError) as second:
        sqs.start_message_move_task(SourceArn=source)
    assert second.value.response["Error"]["Code"] == "AWS.SimpleQueueService.UnsupportedOperation"
    (running,) = sqs.list_message_move_tasks(SourceArn=source)["Results"]
    assert (running["Status"], running["TaskHandle"]) == ("RUNNING", handle)
    sqs.cancel_message_move_task(TaskHandle=handle)
    task = _done(sqs, source)
    assert task["Status"] == "CANCELLED"
    assert task["ApproximateNumberOfMessagesMoved"] < 20
    left = _drain(sqs, dlq)
    assert len(left) == 20 - task["ApproximateNumberOfMessagesMoved"]  # none lost
    # Ended, the source may take a new task; the newest shows first.
    sqs.start_message_move_task(SourceArn=source)
    assert _done(sqs, source)["Status"] == "COMPLETED"
    history = sqs.list_message_move_tasks(SourceArn=source, MaxResults=10)["Results"]
    assert [t["Status"] for t in history] == ["COMPLETED", "CANCELLED"]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"SourceArn": ARN.format("nowhere")}, "ResourceNotFoundException"),
        ({"SourceArn": "arn:aws:s3:::bucket"}, "InvalidParameterValue"),
        ({"SourceArn": ARN.format("plain")}, "AWS.SimpleQueueService.UnsupportedOperation"),
        (
            {"SourceArn": ARN.format("plain-dlq"), "MaxNumberOfMessagesPerSecond": 501},
            "InvalidParameterValue",
        ),
        (
            {"SourceArn": ARN.format("plain-dlq"), "DestinationArn": ARN.format("nowhere")},
            "ResourceNotFoundException",
        ),
    ],
)
def test_bad_tasks_are_refused(sqs: Any, request_: dict[str, Any], code: str) -> None:
    dlq = sqs.create_queue(QueueName="plain-dlq")["QueueUrl"]
    assert dlq
    policy = json.dumps({"deadLetterTargetArn": ARN.format("plain-dlq"), "maxReceiveCount": 3})
    sqs.create_queue(QueueName="uses-plain-dlq", Attributes={"RedrivePolicy": policy})
    sqs.create_queue(QueueName="plain")
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(**request_)
    assert refused.value.response["Error"]["Code"] == code


def test_an_unknown_task_cannot_be_cancelled(sqs: Any) -> None:
    with pytest.raises(ClientError) as refused:
        sqs.cancel_message_move_task(TaskHandle="bm90IGEgdGFzaw==")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_messages_whose_queue_is_gone_stay_and_the_rest_move(sqs: Any) -> None:
    # The dead-letter queue holds messages of two queues; one of them is deleted since.
    dlq = sqs.create_queue(QueueName="mixed-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": ARN.format("mixed-dlq"), "maxReceiveCount": 1})
    sources = {}
    for name in ("gone-source", "live-source"):
        url = sqs.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
        )["QueueUrl"]
        sources[name] = url
        sqs.send_message(QueueUrl=url, MessageBody=name)
        assert sqs.receive_message(QueueUrl=url)["Messages"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url)  # moved to the DLQ
    sqs.delete_queue(QueueUrl=sources["gone-source"])
    sqs.start_message_move_task(SourceArn=ARN.format("mixed-dlq"))
    task = _done(sqs, ARN.format("mixed-dlq"))
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("FAILED", 1)
    assert "gone-source does not exist" in task["FailureReason"]
    assert [m["Body"] for m in _drain(sqs, sources["live-source"]).values()] == ["live-source"]
    assert [m["Body"] for m in _drain(sqs, dlq).values()] == ["gone-source"]  # not lost


def test_a_key_may_move_only_into_queues_it_may_send_to(sqs: Any, live_server: LiveServer) -> None:
    _poisoned(sqs, "guarded", 2)
    made = httpx.post(
        f"{live_server.url}/_/api/v1/keys",
        headers=ROOT_AUTH,
        json={
            "name": "dlq-admin",
            "grants": [{"access": ["admin"], "buckets": [], "queues": ["guarded-dlq"]}],
        },
    ).json()
    mine = sqs_client_with(live_server, made["id"], made["secret"])
    with pytest.raises(ClientError) as refused:
        mine.start_message_move_task(SourceArn=ARN.format("guarded-dlq"))
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as itself:
        sqs.start_message_move_task(
            SourceArn=ARN.format("guarded-dlq"), DestinationArn=ARN.format("guarded-dlq")
        )
    assert itself.value.response["Error"]["Code"] == "InvalidParameterValue"
