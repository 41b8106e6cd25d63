"""rclone, unchanged: a remote configured through environment variables only (no
configuration file of the machine's), with 5 MiB parts so the large sample file goes up
in three. rclone compares sizes, modification times (its ``mtime`` metadata) and MD5s:
the ETag of a single-part object, its own ``md5chksum`` metadata for a multipart one."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import Run, digests, program, run, sample_tree, stored
from tests.e2e.s3.conftest import REGION, server_credentials

#: 2020-01-01T00:00:00Z
NEW_YEAR_2020 = 1_577_836_800


@dataclass(frozen=True)
class Rclone:
    """The ``rclone`` command with the ``chute:`` remote configured."""

    program: str
    env: dict[str, str]

    def __call__(self, *args: str) -> Run:
        return run([self.program, *args], self.env)


@pytest.fixture
def rclone(server: LiveServer, tmp_path: Path) -> Rclone:
    """rclone with an empty configuration file and the remote in its environment."""
    config = tmp_path / "rclone.conf"
    config.touch()
    access_key, secret_key = server_credentials(server)
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENDPOINT": server.url,
        "ACCESS_KEY_ID": access_key,
        "SECRET_ACCESS_KEY": secret_key,
        "REGION": REGION,
        "FORCE_PATH_STYLE": "true",
        "UPLOAD_CUTOFF": "5M",
        "CHUNK_SIZE": "5M",
    }
    env = {f"RCLONE_CONFIG_CHUTE_{name}": value for name, value in remote.items()}
    home = tmp_path / "home"
    home.mkdir()
    return Rclone(program("rclone"), {**env, "RCLONE_CONFIG": str(config), "HOME": str(home)})


def local_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, keyed by its path relative to it."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def by_path(output: str) -> dict[str, str]:
    """The lines of ``rclone ls`` or ``md5sum`` (a size or a digest, then a path) by path."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        value, path = line.split(maxsplit=1)
        found[path] = value
    return found


def upload(rclone: Rclone, tmp_path: Path, bucket: str) -> tuple[Path, dict[str, bytes]]:
    """``sample_tree()`` copied into a new bucket: its folder and its files."""
    root = tmp_path / "local"
    files = sample_tree(root)
    rclone("mkdir", f"chute:{bucket}")
    rclone("copy", str(root), f"chute:{bucket}")
    return root, files


def test_copy_list_check_and_cat(
    rclone: Rclone, s3: S3Client, tmp_path: Path, bucket_name: str
) -> None:
    root, files = upload(rclone, tmp_path, bucket_name)
    assert digests(stored(s3, bucket_name)) == digests(files)
    sizes = {name: len(data) for name, data in files.items()}
    listed = by_path(rclone("ls", f"chute:{bucket_name}").stdout)
    assert listed == {name: str(size) for name, size in sizes.items()}
    entries = json.loads(rclone("lsjson", "-R", "--files-only", f"chute:{bucket_name}").stdout)
    assert {entry["Path"]: entry["Size"] for entry in entries} == sizes
    checked = rclone("check", str(root), f"chute:{bucket_name}")
    assert f"{len(files)} matching files" in checked.stderr
    cat = rclone("cat", f"chute:{bucket_name}/notes.txt")
    assert cat.stdout.encode() == files["notes.txt"]


def test_md5s_match_for_single_and_multipart_objects(
    rclone: Rclone, s3: S3Client, tmp_path: Path, bucket_name: str
) -> None:
    _, files = upload(rclone, tmp_path, bucket_name)
    sums = by_path(rclone("md5sum", f"chute:{bucket_name}").stdout)
    assert sums == {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    large = s3.head_object(Bucket=bucket_name, Key="data/large.bin")
    assert large["ETag"].endswith('-3"')
    md5 = base64.b64encode(hashlib.md5(files["data/large.bin"]).digest()).decode()
    assert large["Metadata"]["md5chksum"] == md5


def test_check_finds_a_changed_object_of_the_same_size(
    rclone: Rclone, s3: S3Client, tmp_path: Path, bucket_name: str
) -> None:
    root, files = upload(rclone, tmp_path, bucket_name)
    changed = files["notes.txt"].upper()
    s3.put_object(Bucket=bucket_name, Key="notes.txt", Body=changed)
    with pytest.raises(AssertionError, match="1 differences found"):
        rclone("check", str(root), f"chute:{bucket_name}")


def test_sync_follows_local_changes(
    rclone: Rclone, s3: S3Client, tmp_path: Path, bucket_name: str
) -> None:
    root, files = upload(rclone, tmp_path, bucket_name)
    # The same size and a new time: only the MD5 tells the contents apart.
    (root / "notes.txt").write_bytes(files["notes.txt"].upper())
    # Only the time changes: rclone copies the object onto itself with new metadata.
    os.utime(root / "photos/2024/a b.jpg", (NEW_YEAR_2020, NEW_YEAR_2020))
    (root / "empty.bin").unlink()
    (root / "new").mkdir()
    (root / "new/file.txt").write_bytes(b"added later\n")
    rclone("sync", str(root), f"chute:{bucket_name}")
    assert digests(stored(s3, bucket_name)) == digests(local_files(root))
    touched = s3.head_object(Bucket=bucket_name, Key="photos/2024/a b.jpg")
    assert float(touched["Metadata"]["mtime"]) == NEW_YEAR_2020
    rclone("check", str(root), f"chute:{bucket_name}")


def test_copy_back_down(rclone: Rclone, tmp_path: Path, bucket_name: str) -> None:
    root, files = upload(rclone, tmp_path, bucket_name)
    back = tmp_path / "back"
    rclone("copy", f"chute:{bucket_name}", str(back))
    assert digests(local_files(back)) == digests(files)
    for name in files:
        assert (back / name).stat().st_mtime_ns == (root / name).stat().st_mtime_ns, name


def test_delete_and_purge(rclone: Rclone, s3: S3Client, tmp_path: Path, bucket_name: str) -> None:
    _, files = upload(rclone, tmp_path, bucket_name)
    rclone("delete", f"chute:{bucket_name}", "--include", "*.{png,jpg}")
    kept = {name: data for name, data in files.items() if not name.startswith("photos/")}
    assert digests(stored(s3, bucket_name)) == digests(kept)
    rclone("purge", f"chute:{bucket_name}")
    assert bucket_name not in [found["Name"] for found in s3.list_buckets()["Buckets"]]
