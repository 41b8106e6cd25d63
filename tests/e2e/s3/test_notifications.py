"""Bucket notification configurations over the S3 API, with boto3 and the AWS CLI, set
up as they would be for AWS, against a server whose chute.toml has a pipeline and a
webhook target: uploads run the pipeline, topics get the test event and the records,
and what S3 refuses is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client
from mypy_boto3_s3.type_defs import LambdaFunctionConfigurationTypeDef
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server, wait_until
from tests.e2e.s3.conftest import REGION, s3_client, server_credentials
from tests.e2e.s3.signing import send
from tests.receiver import Receiver, Request, running_receiver
from tests.services import require

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
JPEG_ONLY = {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}
API = "/_/api/v1"


def _config_file(folder: Path, receiver: Receiver) -> Path:
    """A chute.toml with pipeline ``thumbnails`` (its own trigger on another bucket) and
    webhook target ``orders`` at ``receiver``."""
    path = folder / "chute.toml"
    path.write_text(
        f"""
[worker]
processes = 1
poll_seconds = 0.2

[pipelines.thumbnails]
trigger = {{ bucket = "inbox", prefix = "thumbnails/" }}
output_bucket = "processed"

[[pipelines.thumbnails.steps]]
name = "copy"
processor = "copy"

[webhooks.orders]
urls = ["{receiver.url}/orders"]
secret = "{SECRET}"
retry = {{ max_attempts = 3, base_delay = 0.05, jitter = false }}
"""
    )
    return path


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, hooks: Receiver) -> Path:
    return _config_file(tmp_path_factory.mktemp("chute-notify-config"), hooks)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("chute-notify")
    with start_server(data, env={"CHUTE_CONFIG": str(config_file)}) as running:
        yield running


@pytest.fixture(scope="module")
def s3(server: LiveServer) -> S3Client:
    return s3_client(server)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"n-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def _status(server: LiveServer, bucket: str, key: str) -> str:
    answer = httpx.get(
        f"{server.url}{API}/buckets/{bucket}/status/{key}", timeout=5, headers=ROOT_AUTH
    )
    answer.raise_for_status()
    status: str = answer.json()["status"]
    return status


def _messages(receiver: Receiver, bucket: str) -> list[tuple[Request, dict[str, Any]]]:
    """What ``receiver`` got about ``bucket``, each checked against its signature."""
    found = []
    for request in list(receiver.requests):
        message = Webhook(SECRET).verify(request.body, request.headers)
        records = message.get("Records") or [{}]
        named = message.get("Bucket") or records[0].get("s3", {}).get("bucket", {}).get("name")
        if named == bucket:
            found.append((request, message))
    return found


def _error(caught: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    # S3 error documents carry fields beyond Code and Message (ArgumentName1, ...).
    return cast(dict[str, Any], caught.value.response["Error"])


def _lambda(**extra: Any) -> LambdaFunctionConfigurationTypeDef:
    config = {"LambdaFunctionArn": LAMBDA, "Events": ["s3:ObjectCreated:*"], **extra}
    return cast(LambdaFunctionConfigurationTypeDef, config)


# --- functions: pipelines --------------------------------------------------------------


def test_a_lambda_configuration_runs_the_pipeline_on_what_it_selects(
    s3: S3Client, server: LiveServer, bucket: str
) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"LambdaFunctionConfigurations": [_lambda(Filter=JPEG_ONLY)]},
    )
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    (config,) = got["LambdaFunctionConfigurations"]
    assert config["LambdaFunctionArn"] == LAMBDA
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"] == {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".jpg"}]}}
    assert config["Id"]  # generated, as S3 does
    assert "TopicConfigurations" not in got

    s3.put_object(Bucket=bucket, Key="x.jpg", Body=b"a photo")
    s3.put_object(Bucket=bucket, Key="x.txt", Body=b"a text")
    wait_until(lambda: _status(server, bucket, "x.jpg") == "succeeded", timeout=60)
    assert _status(server, bucket, "x.txt") == "none"
    copied = s3.get_object(Bucket="processed", Key="x.jpg")["Body"].read()
    assert copied == b"a photo"


def test_the_legacy_get_answers_the_same_document(s3: S3Client, bucket: str) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"LambdaFunctionConfigurations": [_lambda(Id="thumbs")]},
    )
    legacy = s3.get_bucket_notification(Bucket=bucket)
    assert legacy["CloudFunctionConfiguration"]["CloudFunction"] == LAMBDA
    assert legacy["CloudFunctionConfiguration"]["Id"] == "thumbs"


def test_an_empty_configuration_turns_notifications_off(
    s3: S3Client, server: LiveServer, bucket: str
) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [_lambda()]}
    )
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "LambdaFunctionConfigurations" not in got
    s3.put_object(Bucket=bucket, Key="y.jpg", Body=b"1")
    assert _status(server, bucket, "y.jpg") == "none"


def test_a_configuration_survives_a_restart(
    tmp_path: Path, config_file: Path, hooks: Receiver
) -> None:
    env = {"CHUTE_CONFIG": str(config_file)}
    with start_server(tmp_path / "data", env=env) as first:
        client = s3_client(first)
        client.create_bucket(Bucket="photos")
        client.put_bucket_notification_configuration(
            Bucket="photos",
            NotificationConfiguration={"LambdaFunctionConfigurations": [_lambda(Id="keep")]},
        )
    with start_server(tmp_path / "data", env=env) as again:
        client = s3_client(again)
        got = client.get_bucket_notification_configuration(Bucket="photos")
        assert [c["Id"] for c in got["LambdaFunctionConfigurations"]] == ["keep"]
        client.put_object(Bucket="photos", Key="after.jpg", Body=b"1")
        wait_until(lambda: _status(again, "photos", "after.jpg") == "succeeded", timeout=60)


# --- topics: webhook targets -----------------------------------------------------------


def test_a_topic_gets_the_test_event_then_the_records(
    s3: S3Client, hooks: Receiver, bucket: str
) -> None:
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [
                {
                    "Id": "to-orders",
                    "TopicArn": TOPIC,
                    "Events": ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "orders/"}]}},
                }
            ]
        },
    )
    wait_until(lambda: len(_messages(hooks, bucket)) == 1, timeout=30)
    ((request, test),) = _messages(hooks, bucket)
    assert request.path == "/orders"
    assert test["Service"] == "Amazon S3"
    assert test["Event"] == "s3:TestEvent"
    assert test["Bucket"] == bucket
    assert test["Time"].endswith("Z")

    s3.put_object(Bucket=bucket, Key="orders/1.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="other/2.json", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="orders/1.json")
    wait_until(lambda: len(_messages(hooks, bucket)) == 3, timeout=30)
    records = [m["Records"][0] for _, m in _messages(hooks, bucket)[1:]]
    names = sorted(r["eventName"] for r in records)
    assert names == ["ObjectCreated:Put", "ObjectRemoved:Delete"]
    for record in records:
        assert record["eventSource"] == "aws:s3"
        assert record["s3"]["configurationId"] == "to-orders"
        assert record["s3"]["object"]["key"] == "orders/1.json"


# --- refusals ------------------------------------------------------------------------


def test_a_missing_queue_is_refused(s3: S3Client, bucket: str) -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:jobs"
    config: Any = {"QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    error = _error(caught)
    assert error["Code"] == "InvalidArgument"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"].startswith("Unable to validate the following destination")
    assert "no SQS queue named 'jobs' exists" in error["Message"]
    assert error["ArgumentName1"] == queue
    assert "no SQS queue" in error["ArgumentValue1"]
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)

    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=config, SkipDestinationValidation=True
    )
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["QueueConfigurations"][0]["QueueArn"] == queue


def test_an_unknown_pipeline_is_refused(s3: S3Client, bucket: str) -> None:
    missing = "arn:aws:lambda:us-east-1:123456789012:function:nope"
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [_lambda(LambdaFunctionArn=missing)]
            },
        )
    error = _error(caught)
    assert (error["Code"], error["ArgumentName1"]) == ("InvalidArgument", missing)
    assert error["ArgumentValue1"] == "no function or pipeline named 'nope' is configured"


def test_overlapping_configurations_are_refused(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [_lambda()],
                "TopicConfigurations": [{"TopicArn": TOPIC, "Events": ["s3:ObjectCreated:Put"]}],
            },
        )
    error = _error(caught)
    assert error["Code"] == "InvalidArgument"
    assert error["Message"] == (
        "Configurations overlap. Configurations on the same bucket cannot share a common "
        "event type."
    )


def test_an_unknown_event_is_refused(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [_lambda(Events=["s3:ObjectCreated:Upload"])]
            },
        )
    error = _error(caught)
    assert (error["Code"], error["ArgumentValue"]) == ("InvalidArgument", "s3:ObjectCreated:Upload")


@pytest.mark.parametrize(
    "body",
    [
        b"<NotificationConfiguration><TopicConfiguration>",  # not well-formed
        b"<VersioningConfiguration/>",  # another document
        b"<NotificationConfiguration><TopicConfiguration><Event>s3:ObjectCreated:*</Event>"
        b"</TopicConfiguration></NotificationConfiguration>",  # no topic
        b"<NotificationConfiguration><Carrier/></NotificationConfiguration>",
    ],
)
def test_malformed_xml_is_refused(server: LiveServer, bucket: str, body: bytes) -> None:
    answer = send(server, "PUT", f"/{bucket}?notification", body)
    assert answer.status_code == 400
    assert "<Code>MalformedXML</Code>" in answer.text


def test_a_missing_bucket_is_no_such_bucket(s3: S3Client) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_notification_configuration(Bucket="no-such-bucket-here")
    assert _error(caught)["Code"] == "NoSuchBucket"


# --- the AWS CLI -----------------------------------------------------------------------

AWS_CLI = Path(sys.executable).parent / "aws"


def test_an_aws_cli_setup_script_configures_chute_unchanged(
    tmp_path: Path, server: LiveServer, s3: S3Client, bucket: str
) -> None:
    require(AWS_CLI.exists(), "the AWS CLI")  # a dev dependency: CI fails without it
    notification = tmp_path / "n.json"
    notification.write_text(
        json.dumps(
            {
                "LambdaFunctionConfigurations": [
                    {
                        "Id": "thumbs",
                        "LambdaFunctionArn": LAMBDA,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": JPEG_ONLY,
                    }
                ]
            }
        )
    )
    access_key, secret_key = server_credentials(server)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    command = [
        str(AWS_CLI), "--endpoint-url", server.url, "s3api",
        "put-bucket-notification-configuration", "--bucket", bucket,
        "--notification-configuration", f"file://{notification}",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["LambdaFunctionConfigurations"][0]["Id"] == "thumbs"
    s3.put_object(Bucket=bucket, Key="cli.jpg", Body=b"1")
    wait_until(lambda: _status(server, bucket, "cli.jpg") == "succeeded", timeout=60)
