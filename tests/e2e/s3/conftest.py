"""S3 clients against a real Chute server on a loopback port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import ROOT_KEY, LiveServer, start_server

REGION = "us-east-1"


def s3_client(
    server: LiveServer,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = REGION,
    **config: Any,
) -> S3Client:
    """A boto3 S3 client for ``server``, path style, with the server's root key unless
    given another (``config``: botocore ``Config`` options)."""
    root_key, root_secret = server_credentials(server)
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id=access_key or root_key,
        aws_secret_access_key=secret_key or root_secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


def server_credentials(server: LiveServer) -> tuple[str, str]:
    """The root key every test server is started with."""
    return ROOT_KEY.access_key, ROOT_KEY.secret_key


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a module of S3 tests."""
    with start_server(tmp_path_factory.mktemp("chute-s3")) as server:
        yield server


@pytest.fixture(scope="module")
def s3(s3_server: LiveServer) -> S3Client:
    return s3_client(s3_server)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    """A new, empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name
