"""A handler in the style of AWS's S3 tutorials: its client is made at import, from the
environment alone (AWS_ENDPOINT_URL and the session credentials)."""

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")


def copy(event: dict[str, Any], context: Any) -> list[str]:
    """Copies each object of the event to ``BUCKET/copied/KEY``; reports what failed."""
    done = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket, Key=f"copied/{key}", Body=body)
        done.append(key)
    return done


def again(event: dict[str, Any], context: Any) -> None:
    """Writes each object back to its own bucket with a ``+`` more on its key: a
    function that triggers itself, as a careless one does."""
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        s3.put_object(Bucket=bucket, Key=f"{key}+", Body=b"again")


def relay(event: dict[str, Any], context: Any) -> None:
    """Writes each object, with a ``+`` more on its key, to the bucket ``RELAY_TO``
    names: a loop when a pipeline copies that bucket back to the one it reads."""
    for record in event["Records"]:
        key = unquote_plus(record["s3"]["object"]["key"])
        s3.put_object(Bucket=os.environ["RELAY_TO"], Key=f"{key}+", Body=b"relayed")


def probe(event: dict[str, Any], context: Any) -> dict[str, str]:
    """What these credentials may and may not do, as S3 error codes."""
    outcomes = {}
    calls: dict[str, Callable[[], object]] = {
        "read_allowed": lambda: s3.get_object(Bucket=event["bucket"], Key="in/a.txt"),
        "read_elsewhere": lambda: s3.get_object(Bucket=event["other"], Key="in/a.txt"),
        "write_allowed": lambda: s3.put_object(Bucket=event["bucket"], Key="out/b.txt", Body=b"b"),
        "write_elsewhere": lambda: s3.put_object(Bucket=event["bucket"], Key="in/c.txt", Body=b"c"),
    }
    for name, call in calls.items():
        try:
            call()
            outcomes[name] = "ok"
        except ClientError as exc:
            outcomes[name] = exc.response["Error"]["Code"]
    return outcomes
