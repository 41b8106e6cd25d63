"""SQS queues on both catalog engines, with the clock in the test's hands: retention,
delays, visibility, dead letters, and consumers racing for the same messages."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chute.catalog import Catalog
from chute.context import RequestContext
from chute.sqs.service import Call, Queues

BASE = "http://chute.test"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queues(catalog: Catalog, clock: Clock) -> Queues:
    return Queues(catalog, "us-east-1", clock)


def call(queues: Queues, operation: str, **params: Any) -> dict[str, Any]:
    return queues.operations[operation](Call(RequestContext.system(), BASE, params))


def receive(queues: Queues, url: str, **params: Any) -> list[dict[str, Any]]:
    pending = queues.prepare_receive(
        Call(RequestContext.system(), BASE, {"QueueUrl": url, **params})
    )
    found: list[dict[str, Any]] = queues.receive(pending).get("Messages", [])
    return found


def test_messages_past_retention_are_skipped_then_removed(queues: Queues, clock: Clock) -> None:
    url = call(
        queues, "CreateQueue", QueueName="short", Attributes={"MessageRetentionPeriod": "60"}
    )["QueueUrl"]
    call(queues, "SendMessage", QueueUrl=url, MessageBody="old")
    clock.advance(30)
    call(queues, "SendMessage", QueueUrl=url, MessageBody="young")
    clock.advance(40)  # "old" is 70 s old
    assert queues.expire() == 1
    assert [m["Body"] for m in receive(queues, url, MaxNumberOfMessages=10)] == ["young"]
    clock.advance(3600)
    assert receive(queues, url, VisibilityTimeout=0) == []  # expired while queued


def test_delay_and_visibility_follow_the_clock(queues: Queues, clock: Clock) -> None:
    url = call(queues, "CreateQueue", QueueName="timed", Attributes={"DelaySeconds": "10"})[
        "QueueUrl"
    ]
    call(queues, "SendMessage", QueueUrl=url, MessageBody="later")
    assert receive(queues, url) == []
    clock.advance(10)
    (message,) = receive(queues, url, VisibilityTimeout=5)
    clock.advance(4.9)
    assert receive(queues, url) == []
    clock.advance(0.2)
    (again,) = receive(queues, url, AttributeNames=["ApproximateReceiveCount"])
    assert again["MessageId"] == message["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_message_moves_to_its_dead_letter_queue(queues: Queues, clock: Clock) -> None:
    dlq = call(queues, "CreateQueue", QueueName="dead")["QueueUrl"]
    policy = json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dead", "maxReceiveCount": "1"}
    )
    url = call(queues, "CreateQueue", QueueName="live", Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    sent = call(queues, "SendMessage", QueueUrl=url, MessageBody="poison")
    assert receive(queues, url, VisibilityTimeout=1)
    clock.advance(2)
    assert receive(queues, url) == []  # moved, not delivered a second time
    (dead,) = receive(queues, dlq, AttributeNames=["All"])
    assert dead["MessageId"] == sent["MessageId"]
    assert (
        dead["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:000000000000:live"
    )


def test_racing_consumers_never_share_a_message(queues: Queues) -> None:
    url = call(queues, "CreateQueue", QueueName="race")["QueueUrl"]
    for start in range(0, 200, 10):
        entries = [{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)]
        call(queues, "SendMessageBatch", QueueUrl=url, Entries=entries)
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        while True:
            got = receive(queues, url, MaxNumberOfMessages=7, VisibilityTimeout=600)
            if not got:
                return
            with lock:
                seen.extend(m["Body"] for m in got)

    threads = [threading.Thread(target=consume) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(f"m{n}" for n in range(200))


def test_fifo_groups_stay_in_order_under_racing_consumers(queues: Queues) -> None:
    url = call(
        queues, "CreateQueue", QueueName="order.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]  # fmt: skip
    for n in range(30):
        call(
            queues,
            "SendMessage",
            QueueUrl=url,
            MessageBody=f"{n % 3}:{n}",
            MessageGroupId=str(n % 3),
        )
    order: dict[str, list[int]] = {"0": [], "1": [], "2": []}
    lock = threading.Lock()

    def consume() -> None:
        idle = 0
        while idle < 3:
            got = receive(queues, url, MaxNumberOfMessages=4, AttributeNames=["MessageGroupId"])
            idle = 0 if got else idle + 1
            with lock:
                for message in got:
                    group, number = message["Body"].split(":")
                    order[group].append(int(number))
            for message in got:
                call(queues, "DeleteMessage", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for group, numbers in order.items():
        assert numbers == sorted(numbers), group
        assert len(numbers) == 10


def test_a_deduplication_id_repeated_in_one_batch_is_sent_once(queues: Queues) -> None:
    url = call(queues, "CreateQueue", QueueName="dedup.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    entries = [
        {"Id": name, "MessageBody": name, "MessageGroupId": "g", "MessageDeduplicationId": dedup}
        for name, dedup in [("a", "same"), ("b", "same"), ("c", "other")]
    ]
    answer = call(queues, "SendMessageBatch", QueueUrl=url, Entries=entries)
    ids = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
    assert ids["a"] == ids["b"] != ids["c"]
    got = receive(queues, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in got] == ["a", "c"]


def test_a_receive_on_an_empty_queue_writes_nothing(queues: Queues, catalog: Catalog) -> None:
    # An idle long poll looks again every second: each look is a read, not a commit.
    url = call(queues, "CreateQueue", QueueName="idle")["QueueUrl"]
    writes: list[str] = []

    def noted(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")):
            writes.append(statement)

    sa.event.listen(catalog.engine, "before_cursor_execute", noted)
    try:
        for _ in range(3):
            assert receive(queues, url) == []
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", noted)
    assert writes == []
    call(queues, "SendMessage", QueueUrl=url, MessageBody="now")
    assert [m["Body"] for m in receive(queues, url)] == ["now"]
