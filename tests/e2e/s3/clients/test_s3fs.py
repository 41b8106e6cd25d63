"""s3fs (fsspec's S3 file system, on aiobotocore), the way data tools use it: files
opened for writing in blocks (multipart), folders put and got, listings and globs,
ranged reads, copies and moves, and Parquet through pyarrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import LARGE, MiB, digests, library, sample_tree, stored
from tests.e2e.s3.conftest import REGION, server_credentials


@pytest.fixture
def fs(server: LiveServer) -> Any:
    s3fs = library("s3fs")
    access_key, secret_key = server_credentials(server)
    return s3fs.S3FileSystem(
        key=access_key,
        secret=secret_key,
        endpoint_url=server.url,
        client_kwargs={"region_name": REGION},
        use_listings_cache=False,
    )


def test_write_in_blocks_then_read_ranges(fs: Any, s3: S3Client, bucket_name: str) -> None:
    fs.mkdir(bucket_name)
    data = bytes(range(251)) * (LARGE // 251)
    with fs.open(f"{bucket_name}/blocks.bin", "wb", block_size=5 * MiB) as out:
        for start in range(0, len(data), 1 << 20):
            out.write(data[start : start + (1 << 20)])
    head = s3.head_object(Bucket=bucket_name, Key="blocks.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 5 + 5 + 2 MiB
    assert fs.cat_file(f"{bucket_name}/blocks.bin", start=10, end=5000) == data[10:5000]
    with fs.open(f"{bucket_name}/blocks.bin", "rb", block_size=MiB) as source:
        source.seek(7 * MiB + 3)
        assert source.read(100) == data[7 * MiB + 3 : 7 * MiB + 103]
    assert fs.info(f"{bucket_name}/blocks.bin")["size"] == len(data)


def test_put_a_folder_list_glob_and_get_it_back(
    fs: Any, s3: S3Client, bucket_name: str, tmp_path: Path
) -> None:
    files = sample_tree(tmp_path / "up")
    fs.mkdir(bucket_name)
    fs.put(f"{tmp_path / 'up'}/", f"{bucket_name}/tree/", recursive=True)
    assert digests(stored(s3, bucket_name, "tree/")) == digests(files)

    assert sorted(fs.find(f"{bucket_name}/tree")) == sorted(
        f"{bucket_name}/tree/{name}" for name in files
    )
    top = {entry["name"]: entry["type"] for entry in fs.ls(f"{bucket_name}/tree", detail=True)}
    assert top[f"{bucket_name}/tree/photos"] == "directory"
    assert top[f"{bucket_name}/tree/notes.txt"] == "file"
    assert fs.glob(f"{bucket_name}/tree/photos/*/*.png") == [
        f"{bucket_name}/tree/photos/2024/\u00e9t\u00e9.png"
    ]
    assert fs.du(f"{bucket_name}/tree") == sum(len(data) for data in files.values())
    assert fs.isdir(f"{bucket_name}/tree/photos")

    fs.get(f"{bucket_name}/tree/", f"{tmp_path / 'down'}/", recursive=True)
    back = {name: (tmp_path / "down" / name).read_bytes() for name in files}
    assert digests(back) == digests(files)


def test_copy_move_and_remove(fs: Any, s3: S3Client, bucket_name: str) -> None:
    fs.mkdir(bucket_name)
    fs.pipe(f"{bucket_name}/a/one.txt", b"one")
    fs.copy(f"{bucket_name}/a/one.txt", f"{bucket_name}/b/one.txt")
    fs.mv(f"{bucket_name}/a/one.txt", f"{bucket_name}/c/one.txt")
    assert stored(s3, bucket_name) == {"b/one.txt": b"one", "c/one.txt": b"one"}
    assert not fs.exists(f"{bucket_name}/a/one.txt")
    fs.rm(f"{bucket_name}/b", recursive=True)
    assert sorted(stored(s3, bucket_name)) == ["c/one.txt"]
    fs.rm(bucket_name, recursive=True)
    assert bucket_name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_parquet_through_pyarrow(fs: Any, bucket_name: str) -> None:
    fs.mkdir(bucket_name)
    table = pa.table({"id": list(range(10_000)), "name": [f"n{i}" for i in range(10_000)]})
    with fs.open(f"{bucket_name}/t/part-0.parquet", "wb") as out:
        pq.write_table(table, out)
    back = pq.read_table(f"{bucket_name}/t", filesystem=fs)
    assert back.num_rows == 10_000
    assert back.column("name")[9_999].as_py() == "n9999"
