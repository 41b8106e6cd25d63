"""The AWS CLI, as its users type it with only ``--endpoint-url`` added: the high-level
``aws s3`` commands (multipart above 8 MiB, recursive copies, sync, streams through
stdin and stdout, presigned URLs) and the ``aws s3api`` operations they do not cover."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import (
    LARGE,
    Run,
    aws_env,
    digests,
    program,
    run,
    sample_tree,
    stored,
    with_base,
)
from tests.e2e.s3.signing import error_code

Aws = Callable[..., Run]


@pytest.fixture
def aws(server: LiveServer, tmp_path: Path) -> Aws:
    """``aws(*arguments)`` runs the CLI against ``server`` and fails on a non-zero exit."""
    cli = program("aws")
    env = aws_env(server, tmp_path)

    def call(*arguments: str, stdin: bytes | None = None) -> Run:
        command = [cli, "--endpoint-url", server.url, *arguments]
        if stdin is None:
            return run(command, env)
        done = subprocess.run(
            command, env=with_base(env), input=stdin, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()
        return Run(0, done.stdout.decode(), done.stderr.decode())

    return call


def api(aws: Aws, *arguments: str) -> Any:
    """An ``aws s3api`` call's JSON answer."""
    out = aws("s3api", *arguments, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def test_copy_list_and_copy_back_a_folder(
    aws: Aws, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    files = sample_tree(tmp_path / "up")
    aws("s3", "mb", f"s3://{bucket_name}")
    aws("s3", "cp", "--recursive", str(tmp_path / "up"), f"s3://{bucket_name}/tree/")

    assert digests(stored(s3, bucket_name, "tree/")) == digests(files)
    large = s3.head_object(Bucket=bucket_name, Key="tree/data/large.bin")
    assert large["ETag"].endswith('-2"')  # 8 MiB parts, as the CLI cuts them
    listed = aws("s3", "ls", "--recursive", f"s3://{bucket_name}/tree/").stdout
    assert sorted(line.split(maxsplit=3)[3] for line in listed.splitlines()) == sorted(
        f"tree/{name}" for name in files
    )
    top = aws("s3", "ls", f"s3://{bucket_name}/tree/").stdout
    assert "PRE photos/" in top
    assert "PRE data/" in top

    aws("s3", "cp", "--recursive", f"s3://{bucket_name}/tree/", str(tmp_path / "down"))
    back = {name: (tmp_path / "down" / name).read_bytes() for name in files}
    assert digests(back) == digests(files)


def test_sync_follows_changes_and_deletions(
    aws: Aws, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    local = tmp_path / "site"
    files = sample_tree(local)
    aws("s3", "mb", f"s3://{bucket_name}")
    aws("s3", "sync", str(local), f"s3://{bucket_name}/site")
    assert digests(stored(s3, bucket_name, "site/")) == digests(files)

    (local / "notes.txt").write_bytes(b"changed, and longer than before\n")
    (local / "empty.bin").unlink()
    (local / "new.txt").write_bytes(b"new")
    again = aws("s3", "sync", "--delete", str(local), f"s3://{bucket_name}/site").stdout
    assert "large.bin" not in again  # unchanged: not sent again
    now = stored(s3, bucket_name, "site/")
    assert now["notes.txt"] == b"changed, and longer than before\n"
    assert now["new.txt"] == b"new"
    assert "empty.bin" not in now
    assert aws("s3", "sync", str(local), f"s3://{bucket_name}/site").stdout == ""


def test_streams_through_stdin_and_stdout(
    aws: Aws, server: LiveServer, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    aws("s3", "mb", f"s3://{bucket_name}")
    data = bytes(range(256)) * (LARGE // 256)  # above the threshold: sent in parts
    aws("s3", "cp", "-", f"s3://{bucket_name}/stream.bin", stdin=data)
    assert s3.get_object(Bucket=bucket_name, Key="stream.bin")["Body"].read() == data
    out = subprocess.run(
        [program("aws"), "--endpoint-url", server.url, "s3", "cp",
         f"s3://{bucket_name}/stream.bin", "-"],
        env=with_base(aws_env(server, tmp_path)), capture_output=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert out == data


def test_a_presigned_url_opens_the_object_and_nothing_else(
    aws: Aws, server: LiveServer, bucket_name: str, tmp_path: Path
) -> None:
    aws("s3", "mb", f"s3://{bucket_name}")
    (tmp_path / "shared.txt").write_bytes(b"shared")
    aws("s3", "cp", str(tmp_path / "shared.txt"), f"s3://{bucket_name}/shared.txt")
    # AWS CLI v1 presigns with Signature Version 2 unless told otherwise: both open it.
    v2 = aws("s3", "presign", f"s3://{bucket_name}/shared.txt").stdout.strip()
    assert "AWSAccessKeyId=" in v2
    assert httpx.get(v2).content == b"shared"
    altered_v2 = httpx.get(v2.replace("shared.txt", "other.txt"))
    assert (altered_v2.status_code, error_code(altered_v2)) == (403, "SignatureDoesNotMatch")

    (tmp_path / "aws-config").write_text("[default]\ns3 =\n    signature_version = s3v4\n")
    presigned = aws("s3", "presign", f"s3://{bucket_name}/shared.txt", "--expires-in", "300")
    url = presigned.stdout.strip()
    assert "X-Amz-Signature=" in url
    got = httpx.get(url)
    assert (got.status_code, got.content) == (200, b"shared")
    altered = httpx.get(url.replace("shared.txt", "other.txt"))
    assert (altered.status_code, error_code(altered)) == (403, "SignatureDoesNotMatch")


def test_s3api_headers_checksums_and_versions(
    aws: Aws, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    body = tmp_path / "report.csv"
    body.write_bytes(b"a,b\n1,2\n")
    api(aws, "create-bucket", "--bucket", bucket_name)
    api(aws, "put-bucket-versioning", "--bucket", bucket_name,
        "--versioning-configuration", "Status=Enabled")  # fmt: skip
    first = api(aws, "put-object", "--bucket", bucket_name, "--key", "report.csv",
                "--body", str(body), "--content-type", "text/csv",
                "--cache-control", "max-age=60", "--metadata", "source=cli",
                "--checksum-algorithm", "SHA256")  # fmt: skip
    assert first["ChecksumSHA256"]
    head = api(aws, "head-object", "--bucket", bucket_name, "--key", "report.csv",
               "--checksum-mode", "ENABLED")  # fmt: skip
    assert (head["ContentType"], head["CacheControl"], head["Metadata"]) == (
        "text/csv", "max-age=60", {"source": "cli"},
    )  # fmt: skip
    assert head["ChecksumSHA256"] == first["ChecksumSHA256"]

    body.write_bytes(b"a,b\n3,4\n")
    second = api(aws, "put-object", "--bucket", bucket_name, "--key", "report.csv",
                 "--body", str(body))  # fmt: skip
    assert second["VersionId"] != first["VersionId"]
    api(aws, "delete-object", "--bucket", bucket_name, "--key", "report.csv")
    versions = api(aws, "list-object-versions", "--bucket", bucket_name)
    assert [v["VersionId"] for v in versions["Versions"]] == [
        second["VersionId"], first["VersionId"],
    ]  # fmt: skip
    assert len(versions["DeleteMarkers"]) == 1
    old = tmp_path / "old.csv"
    api(aws, "get-object", "--bucket", bucket_name, "--key", "report.csv",
        "--version-id", first["VersionId"], str(old))  # fmt: skip
    assert old.read_bytes() == b"a,b\n1,2\n"
    assert s3.list_objects_v2(Bucket=bucket_name)["KeyCount"] == 0


def test_a_missing_key_fails_the_command_with_s3s_error(
    server: LiveServer, bucket_name: str, tmp_path: Path, aws: Aws
) -> None:
    aws("s3", "mb", f"s3://{bucket_name}")
    done = subprocess.run(
        [program("aws"), "--endpoint-url", server.url, "s3api", "get-object",
         "--bucket", bucket_name, "--key", "nothing-here", str(tmp_path / "out")],
        env=with_base(aws_env(server, tmp_path)), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "NoSuchKey" in done.stderr


def test_remove_recursively_then_the_bucket(
    aws: Aws, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    sample_tree(tmp_path / "up")
    aws("s3", "mb", f"s3://{bucket_name}")
    aws("s3", "cp", "--recursive", str(tmp_path / "up"), f"s3://{bucket_name}/")
    aws("s3", "rm", "--recursive", f"s3://{bucket_name}/photos/")
    assert sorted(stored(s3, bucket_name)) == ["data/large.bin", "empty.bin", "notes.txt"]
    aws("s3", "rb", "--force", f"s3://{bucket_name}")
    assert bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
