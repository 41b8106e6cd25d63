"""SQS clients for a live server."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from tests.e2e.conftest import ROOT_KEY, LiveServer


def sqs_client(server: LiveServer, **config: Any) -> Any:
    """boto3's SQS client (the JSON protocol) for ``server``, with its root key."""
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY.access_key,
        aws_secret_access_key=ROOT_KEY.secret_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def states_client(server: LiveServer, key: str = "", secret: str = "") -> Any:
    """boto3's Step Functions client for ``server`` (its root key unless given one), as
    queue steps' consumers answer their tasks; it sends what it is given unchecked."""
    return boto3.client(
        "stepfunctions",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key or ROOT_KEY.access_key,
        aws_secret_access_key=secret or ROOT_KEY.secret_key,
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
