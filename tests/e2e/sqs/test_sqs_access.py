"""Least privilege on queues: a key made with ``chute keys create --queue`` may do on
its queues what its access says, and nothing on other queues or on buckets; unsigned
and wrongly signed requests are refused as SQS refuses them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import CLIENT_ENV, LiveServer
from tests.e2e.s3.conftest import s3_client
from tests.e2e.sqs.conftest import sqs_client
from tests.e2e.test_auth import chute


def _client(server: LiveServer, key: str, secret: str, service: str = "sqs") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def test_a_consumer_key_reads_its_queue_only(live_server: LiveServer, tmp_path: Path) -> None:
    root = sqs_client(live_server)
    jobs = root.create_queue(QueueName="access-jobs")["QueueUrl"]
    other = root.create_queue(QueueName="access-other")["QueueUrl"]
    root.send_message(QueueUrl=jobs, MessageBody="work")
    made = chute(
        "keys", "create", "--name", "consumer", "--queue", "access-jobs", "--access", "read",
        "--json", cwd=tmp_path, env={"CHUTE_URL": live_server.url, **CLIENT_ENV},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["grants"][0]["queues"] == ["access-jobs"]
    assert key["grants"][0]["buckets"] == []
    consumer = _client(live_server, key["id"], key["secret"])
    message = consumer.receive_message(QueueUrl=jobs, WaitTimeSeconds=1)["Messages"][0]
    consumer.delete_message(QueueUrl=jobs, ReceiptHandle=message["ReceiptHandle"])
    refusals: list[Callable[[], object]] = [
        lambda: consumer.send_message(QueueUrl=jobs, MessageBody="no"),
        lambda: consumer.receive_message(QueueUrl=other),
        lambda: consumer.purge_queue(QueueUrl=jobs),
        lambda: consumer.create_queue(QueueName="access-new"),
    ]
    for refused in refusals:
        with pytest.raises(ClientError) as excinfo:
            refused()
        assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert consumer.list_queues().get("QueueUrls") == [jobs]
    with pytest.raises(ClientError):
        _client(live_server, key["id"], key["secret"], "s3").list_objects_v2(Bucket="x")
    assert s3_client(live_server)  # the root key still works for S3


def test_unsigned_and_wrongly_signed_requests_are_refused(live_server: LiveServer) -> None:
    root = sqs_client(live_server)
    url = root.create_queue(QueueName="access-signed")["QueueUrl"]
    forged = _client(live_server, CLIENT_ENV["CHUTE_ACCESS_KEY"], "not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        forged.send_message(QueueUrl=url, MessageBody="x")
    assert excinfo.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unknown = _client(live_server, "CKNOSUCHKEY000000000", "whatever")
    with pytest.raises(ClientError) as excinfo:
        unknown.send_message(QueueUrl=url, MessageBody="x")
    assert excinfo.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # Unsigned, a request is not even an SQS request: it goes to the S3 API, and is denied.
    answer = httpx.post(
        live_server.url + "/",
        headers={
            "x-amz-target": "AmazonSQS.ListQueues",
            "content-type": "application/x-amz-json-1.0",
        },
        content=b"{}",
    )
    assert answer.status_code == 403
