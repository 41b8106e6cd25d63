"""Acceptance: a plain boto3 SQS worker in another process consumes S3 events from a
queue. One worker is killed mid-message; its message comes back after the visibility
timeout and another worker processes it. Every upload is processed, none twice, and a
poison message lands in the dead-letter queue after ``maxReceiveCount`` receives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT_KEY, LiveServer, wait_until
from tests.e2e.s3.conftest import s3_client
from tests.e2e.sqs.conftest import sqs_client

CONSUMER = Path(__file__).with_name("consumer.py")
ROOT = Path(__file__).resolve().parents[3]


def _worker(server: LiveServer, name: str, log: Path, *, hang: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": ROOT_KEY.access_key,
        "AWS_SECRET_ACCESS_KEY": ROOT_KEY.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(ROOT),
        "HANG_ON_SLOW": "1" if hang else "0",
    }
    return subprocess.Popen(
        [sys.executable, str(CONSUMER), "intake-events", name, str(log)], env=env
    )


def _processed(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    lines = log.read_text().splitlines()
    return Counter(
        line.removeprefix("processed ").rsplit(" ", 1)[0]  # "processed KEY WORKER"
        for line in lines
        if line.startswith("processed ")
    )


def test_a_boto3_worker_killed_mid_message(live_server: LiveServer, tmp_path: Path) -> None:
    sqs, s3 = sqs_client(live_server), s3_client(live_server)
    dlq = sqs.create_queue(QueueName="intake-dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="intake-events",
        Attributes={
            "VisibilityTimeout": "3",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket="intake")
    s3.put_bucket_notification_configuration(
        Bucket="intake",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
                }
            ]
        },
    )
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _worker(live_server, "first", first_log, hang=True)
    second: subprocess.Popen[bytes] | None = None
    try:
        keys = [f"in/file {n}.txt" for n in range(12)] + ["in/slow one.txt", "in/poison.txt"]
        for key in keys:
            s3.put_object(Bucket="intake", Key=key, Body=key.encode())
        wait_until(lambda: Path(f"{first_log}.hung").exists(), timeout=60)
        first.send_signal(signal.SIGKILL)  # mid-message: it never deletes the slow one
        first.wait()
        second = _worker(live_server, "second", second_log, hang=False)
        good = [key for key in keys if "poison" not in key]

        def all_processed() -> bool:
            done = _processed(first_log) + _processed(second_log)
            return all(done[key] >= 1 for key in good)

        wait_until(all_processed, timeout=90)

        def poison_is_dead() -> list[Any]:
            answer = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, VisibilityTimeout=0)
            found: list[Any] = answer.get("Messages", [])
            return found

        wait_until(poison_is_dead, timeout=60)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(10)
    done = _processed(first_log) + _processed(second_log)
    assert set(done) == set(good)
    assert max(done.values()) == 1, f"processed twice: {done}"
    assert _processed(second_log)["in/slow one.txt"] == 1
    for key in good:
        body = s3.get_object(Bucket="intake", Key=f"results/{key}")["Body"].read().decode()
        assert body.startswith(key)
    (dead,) = sqs.receive_message(
        QueueUrl=dlq, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
    )["Messages"]
    record = json.loads(dead["Body"])["Records"][0]
    assert record["s3"]["object"]["key"] == "in/poison.txt"
    assert record["eventSource"] == "aws:s3"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
