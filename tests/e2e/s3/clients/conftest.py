"""Real S3 clients, unchanged, against a Chute server on a loopback port.

Each module drives one client the way its users do (its own commands, its own defaults:
checksums, multipart thresholds, chunked bodies) and checks what arrived with boto3. A
client that is not installed skips its tests locally, with the reason shown, and fails
them when ``CI=true`` (``.ci/run`` installs every one).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.conftest import REGION, server_credentials
from tests.services import require

MiB = 1024 * 1024
#: Above every client's default multipart threshold (the AWS CLI's and s3cmd's 8 MiB, the
#: MinIO SDK's and rclone's settings in their tests): the file goes up in parts.
LARGE = 12 * MiB


def program(name: str) -> str:
    """The path of ``name`` (the virtual environment's own first, then ``PATH``); skips
    or fails the test (see module docs) when it is not installed."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    require(found is not None, f"the program {name!r}")
    assert found is not None
    return found


def library(name: str) -> ModuleType:
    """The Python package ``name``; skips or fails the test (see module docs) when it is
    not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require(False, f"the Python package {name!r}")
        raise


@dataclass(frozen=True)
class Run:
    """A client's command line run to completion."""

    returncode: int
    stdout: str
    stderr: str


def run(command: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> Run:
    """Run ``command`` with ``env`` (on top of a minimal environment) and fail the test
    with its output when it does not exit 0."""
    done = subprocess.run(
        list(command), env=with_base(env), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command[0]} exited {done.returncode}:\n{done.stderr}"
    return Run(done.returncode, done.stdout, done.stderr)


def with_base(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` on top of the few variables of this environment that any program needs."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**base, **env}


@pytest.fixture(scope="module")
def server(s3_server: LiveServer) -> LiveServer:
    """The module's server (``s3`` is boto3 on it, to check what a client stored)."""
    return s3_server


@pytest.fixture
def bucket_name() -> str:
    """A fresh bucket name; the client under test creates the bucket itself."""
    return f"c-{uuid.uuid4().hex[:16]}"


def aws_env(server: LiveServer, home: Path) -> dict[str, str]:
    """The environment an AWS SDK or CLI reads its credentials and region from, with no
    configuration file of the machine's in the way."""
    access_key, secret_key = server_credentials(server)
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "HOME": str(home),
    }


def sample_tree(root: Path) -> dict[str, bytes]:
    """A folder of files to upload, keyed by their path relative to ``root``: small
    files, nested folders, a space and non-ASCII in names, an empty file and one above
    the multipart thresholds."""
    files = {
        "notes.txt": b"hello from a client\n",
        "empty.bin": b"",
        "photos/2024/a b.jpg": os.urandom(3000),
        "photos/2024/\u00e9t\u00e9.png": os.urandom(70_000),
        "data/large.bin": os.urandom(LARGE),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def stored(s3: S3Client, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix`` in ``bucket``, read back with boto3."""
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            found[key[len(prefix) :]] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """Names and SHA-256 digests, for comparisons whose failures stay readable."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
