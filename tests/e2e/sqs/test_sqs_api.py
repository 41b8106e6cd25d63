"""The SQS API with boto3's own client (JSON protocol): queues, messages, visibility,
dead letters, FIFO order, and the errors SQS gives for what it refuses."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import LiveServer
from tests.e2e.sqs.conftest import sqs_client


@pytest.fixture(scope="module")
def sqs(live_server: LiveServer) -> Any:
    return sqs_client(live_server)


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_queue_is_created_found_listed_and_deleted(sqs: Any, live_server: LiveServer) -> None:
    url = sqs.create_queue(QueueName="lifecycle", Attributes={"VisibilityTimeout": "45"})[
        "QueueUrl"
    ]
    assert url == f"{live_server.url}/000000000000/lifecycle"
    assert sqs.create_queue(QueueName="lifecycle")["QueueUrl"] == url  # the same again
    assert sqs.get_queue_url(QueueName="lifecycle")["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix="life")["QueueUrls"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert found["VisibilityTimeout"] == "45"
    assert found["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:lifecycle"
    assert found["MaximumMessageSize"] == "262144"
    assert found["ApproximateNumberOfMessages"] == "0"
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as excinfo:
        sqs.get_queue_url(QueueName="lifecycle")
    assert _error(excinfo)[0] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(sqs.exceptions.QueueDeletedRecently):
        sqs.create_queue(QueueName="lifecycle")


def test_creating_a_queue_again_with_other_attributes_is_refused(sqs: Any) -> None:
    sqs.create_queue(QueueName="twice", Attributes={"DelaySeconds": "1"})
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="twice", Attributes={"DelaySeconds": "2"})


def test_bad_names_and_attributes_are_refused(sqs: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName="no spaces")
    assert _error(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName="attrs", Attributes={"Colour": "blue"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="attrs", Attributes={"VisibilityTimeout": "43201"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.create_queue(QueueName="attrs", Attributes={"MaximumMessageSize": "1048577"})


def test_send_receive_delete(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="basic")["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="hello ✓",
        MessageAttributes={
            "colour": {"DataType": "String", "StringValue": "blue"},
            "size": {"DataType": "Number", "StringValue": "12"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )  # botocore checks MD5OfMessageBody and MD5OfMessageAttributes
    assert sent["MD5OfMessageBody"] == hashlib.md5("hello ✓".encode()).hexdigest()
    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    (message,) = got["Messages"]
    assert message["Body"] == "hello ✓"
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 0
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # invisible now
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    counts = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert counts == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_an_unchanged_message_comes_back_after_its_visibility_timeout(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="redeliver", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    again = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=5, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"][0]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receipt handle is stale now: deleting with it succeeds and deletes nothing.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0
    )
    third = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)


def test_a_long_poll_wakes_when_a_message_is_sent(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    got: dict[str, Any] = {}

    def receive() -> None:
        started = time.monotonic()
        got["answer"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        got["waited"] = time.monotonic() - started

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    thread.join(15)
    assert got["answer"]["Messages"][0]["Body"] == "wake up"
    assert got["waited"] < 5


def test_an_empty_long_poll_waits_its_time(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="empty-poll")["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert time.monotonic() - started >= 1.9


def test_batches(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="batches")["QueueUrl"]
    entries = [{"Id": f"m{n}", "MessageBody": f"body {n}"} for n in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(entry["Id"] for entry in sent["Successful"]) == sorted(e["Id"] for e in entries)
    received: list[Any] = []
    while len(received) < 10:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        received.extend(answer.get("Messages", []))
    assert sorted(m["Body"] for m in received) == sorted(e["MessageBody"] for e in entries)
    changes = [
        {"Id": f"c{n}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60}
        for n, m in enumerate(received)
    ]
    assert (
        len(sqs.change_message_visibility_batch(QueueUrl=url, Entries=changes)["Successful"]) == 10
    )
    deletes = [{"Id": f"d{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    deletes[-1] = {"Id": "forged", "ReceiptHandle": "not-a-handle"}
    answer = sqs.delete_message_batch(QueueUrl=url, Entries=deletes)
    assert len(answer["Successful"]) == 9
    (failed,) = answer["Failed"]
    assert failed["Id"] == "forged"
    assert failed["Code"] == "ReceiptHandleIsInvalid"


def test_a_batch_of_eleven_is_refused(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="eleven")["QueueUrl"]
    entries = [{"Id": f"m{n}", "MessageBody": "x"} for n in range(11)]
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert _error(excinfo)[0] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]
        )
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[])


def test_a_message_over_the_maximum_size_is_refused(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="sizes")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 262_144)
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 262_145)
    code, message = _error(excinfo)
    assert code == "InvalidParameterValue"
    assert "Message must be shorter than 262144 bytes" in message
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1048576"})
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_576)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert {len(m["Body"]) for m in received} <= {262_144, 1_048_576}


def test_invalid_characters_are_refused(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="characters")["QueueUrl"]
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=url, MessageBody="bell \x07")


def test_forged_and_stale_receipt_handles(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="handles")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    message = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    handle = message["ReceiptHandle"]
    forged = handle[:-4] + ("AAAA" if not handle.endswith("AAAA") else "BBBB")
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=forged)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    time.sleep(1.2)
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5)
    sqs.receive_message(QueueUrl=url)  # a new receipt: the first is stale
    with pytest.raises(ClientError) as excinfo:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5)
    code, text = _error(excinfo)
    assert code == "InvalidParameterValue"
    assert "not available for visibility timeout change" in text


def test_a_visibility_timeout_over_twelve_hours_is_refused(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="twelve-hours")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    with pytest.raises(ClientError) as excinfo:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=43_201
        )
    assert _error(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError):
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)


def test_poison_messages_go_to_the_dead_letter_queue(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="poison-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(
        QueueName="poison", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    dead = sqs.receive_message(
        QueueUrl=dlq, WaitTimeSeconds=2, MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(":poison")
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sources == [url]


def test_a_redrive_policy_to_a_missing_queue_is_refused(sqs: Any) -> None:
    policy = json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nowhere", "maxReceiveCount": 3}
    )
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName="orphan", Attributes={"RedrivePolicy": policy})
    assert "Dead letter target does not exist" in _error(excinfo)[1]


def test_fifo_order_groups_and_deduplication(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="orders.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    first = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    again = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    assert again["MessageId"] == first["MessageId"]  # deduplicated
    sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a")
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b")
    one = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert one["Body"] == "a1"
    # While a1 is in flight, group a waits; group b does not.
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=one["ReceiptHandle"])
    after = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in after] == ["a2"]
    assert after[0]["Attributes"]["MessageGroupId"] == "a"
    assert int(after[0]["Attributes"]["SequenceNumber"]) > 0
    with pytest.raises(sqs.exceptions.ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="no group")
    assert _error(excinfo)[0] == "MissingParameter"


def test_purge_tags_and_permissions(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="purged", tags={"team": "media"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "media"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.send_message(QueueUrl=url, MessageBody="gone soon")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)
    sqs.add_permission(
        QueueUrl=url, Label="workers", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert policy["Statement"][0]["Sid"] == "workers"
    sqs.remove_permission(QueueUrl=url, Label="workers")


def test_a_delayed_message_waits(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="delayed")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"][0]["Body"] == "later"
