"""s3cmd, configured as its users configure it for an S3-compatible server (its own
configuration file: host, keys, no virtual-host buckets): buckets, puts and gets of
files and folders, multipart uploads, sync in both directions, listing and deletes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import (
    MiB,
    Run,
    digests,
    program,
    run,
    sample_tree,
    stored,
)
from tests.e2e.s3.conftest import REGION, server_credentials

S3cmd = Callable[..., Run]


@pytest.fixture
def s3cmd(server: LiveServer, tmp_path: Path) -> S3cmd:
    """``s3cmd(*arguments)`` runs s3cmd against ``server`` with a configuration file
    of its own, and fails on a non-zero exit."""
    tool = program("s3cmd")
    access_key, secret_key = server_credentials(server)
    host = urlsplit(server.url).netloc
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {access_key}\n"
        f"secret_key = {secret_key}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "multipart_chunk_size_mb = 5\n"
    )

    def call(*arguments: str) -> Run:
        return run([tool, "--config", str(config), *arguments], {"HOME": str(tmp_path)})

    return call


def test_put_a_folder_list_it_and_get_it_back(
    s3cmd: S3cmd, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    files = sample_tree(tmp_path / "up")
    s3cmd("mb", f"s3://{bucket_name}")
    s3cmd("put", "--recursive", f"{tmp_path / 'up'}/", f"s3://{bucket_name}/tree/")
    assert digests(stored(s3, bucket_name, "tree/")) == digests(files)
    large = s3.head_object(Bucket=bucket_name, Key="tree/data/large.bin")
    assert large["ETag"].endswith('-3"')  # 5 MiB parts, as configured
    assert large["ContentLength"] == len(files["data/large.bin"])

    listed = s3cmd("ls", "--recursive", f"s3://{bucket_name}/tree/").stdout
    assert sorted(line.split(maxsplit=3)[3] for line in listed.splitlines()) == sorted(
        f"s3://{bucket_name}/tree/{name}" for name in files
    )
    assert (
        f"DIR  s3://{bucket_name}/tree/photos/" in s3cmd("ls", f"s3://{bucket_name}/tree/").stdout
    )
    (tmp_path / "down").mkdir()
    s3cmd("get", "--recursive", f"s3://{bucket_name}/tree/", f"{tmp_path / 'down'}/")
    back = {name: (tmp_path / "down" / name).read_bytes() for name in files}
    assert digests(back) == digests(files)


def test_sync_up_with_deletes_then_down(
    s3cmd: S3cmd, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    local = tmp_path / "site"
    files = sample_tree(local)
    s3cmd("mb", f"s3://{bucket_name}")
    s3cmd("sync", f"{local}/", f"s3://{bucket_name}/site/")
    assert digests(stored(s3, bucket_name, "site/")) == digests(files)

    (local / "notes.txt").write_bytes(b"edited")
    (local / "photos/2024/a b.jpg").unlink()
    out = s3cmd("sync", "--delete-removed", f"{local}/", f"s3://{bucket_name}/site/").stdout
    assert "large.bin" not in out  # its MD5 matched: not sent again
    now = stored(s3, bucket_name, "site/")
    assert now["notes.txt"] == b"edited"
    assert "photos/2024/a b.jpg" not in now

    s3cmd("sync", f"s3://{bucket_name}/site/", f"{tmp_path / 'mirror'}/")
    mirrored = {
        str(path.relative_to(tmp_path / "mirror")): path.read_bytes()
        for path in (tmp_path / "mirror").rglob("*")
        if path.is_file()
    }
    assert digests(mirrored) == digests(now)


def test_metadata_info_and_deletes(
    s3cmd: S3cmd, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<h1>hi</h1>")
    s3cmd("mb", f"s3://{bucket_name}")
    s3cmd("put", "--mime-type=text/html", "--add-header=Cache-Control:max-age=300",
          str(page), f"s3://{bucket_name}/index.html")  # fmt: skip
    head = s3.head_object(Bucket=bucket_name, Key="index.html")
    assert (head["ContentType"], head["CacheControl"]) == ("text/html", "max-age=300")
    info = s3cmd("info", f"s3://{bucket_name}/index.html").stdout
    assert "text/html" in info
    assert hashlib.md5(b"<h1>hi</h1>").hexdigest() in info

    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (6 * MiB))
    s3cmd("put", str(big), f"s3://{bucket_name}/big.bin")
    assert s3cmd("du", f"s3://{bucket_name}").stdout.split()[0] == str(6 * MiB + 11)
    s3cmd("del", f"s3://{bucket_name}/index.html")
    s3cmd("del", "--recursive", "--force", f"s3://{bucket_name}/")
    assert stored(s3, bucket_name) == {}
    s3cmd("rb", f"s3://{bucket_name}")
    assert bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
