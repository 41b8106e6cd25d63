"""Fixtures every test layer may use: real services, started once per test process.

A service that cannot start skips its tests locally and fails them in CI (see
:mod:`tests.services`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.services import require

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """Endpoint URL of an S3 server (moto, in this process) with dummy credentials set."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in _AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        server = _start_moto()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture
def s3_bucket(moto_s3: str) -> Iterator[tuple[str, str]]:
    """A new, empty bucket on the test S3 server: ``(endpoint_url, bucket_name)``.

    Afterwards the server forgets everything, so a long session does not pile up bytes.
    """
    import boto3

    name = f"chute-test-{uuid.uuid4().hex[:16]}"
    client = boto3.session.Session().client("s3", endpoint_url=moto_s3)
    client.create_bucket(Bucket=name)
    client.close()
    yield moto_s3, name
    httpx.post(f"{moto_s3}/moto-api/reset").raise_for_status()


def _start_moto() -> ThreadedMotoServer:
    """Start moto on a port the system picks, so parallel test processes never collide."""
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception:
        require(False, "moto S3 server (pip install 'moto[server]')")
        raise
    return server
