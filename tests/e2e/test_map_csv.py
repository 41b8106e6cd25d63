"""Acceptance: a 200 MB CSV uploaded with boto3 (a multipart upload, as the AWS CLI makes
it) is converted to Parquet twice by a server with 2 worker processes: by one
``data.convert`` step, and by a Map (``data.split`` into row chunks, ``data.convert`` on
each, ``data.join``). Both outputs are equal row for row, schema included; the chunks
were items of the run, never objects, and are gone once it succeeded."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from boto3.s3.transfer import TransferConfig

from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server, wait_until
from tests.e2e.s3.conftest import s3_client

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
#: The CSV's size (smaller with ``CHUTE_TEST_MAP_MB`` for a quick local run).
SIZE_MB = int(os.environ.get("CHUTE_TEST_MAP_MB", "200"))
LIMITS = "timeout_seconds = 600\nmemory_mb = 0"
CONFIG = f"""
[worker]
processes = 2
poll_seconds = 0.2

[pipelines.single]
trigger = {{ bucket = "inbox" }}
output_bucket = "single"
[[pipelines.single.steps]]
name = "convert"
processor = "data.convert"
options = {{ to = "parquet" }}
{LIMITS}

[pipelines.mapped]
trigger = {{ bucket = "inbox" }}
output_bucket = "mapped"
[[pipelines.mapped.steps]]
name = "split"
processor = "data.split"
options = {{ chunk_bytes = {16 * MIB} }}
{LIMITS}
[[pipelines.mapped.steps]]
name = "convert"
processor = "data.convert"
options = {{ to = "parquet" }}
map = "split"
max_concurrency = 4
{LIMITS}
[[pipelines.mapped.steps]]
name = "join"
processor = "data.join"
needs = ["convert"]
{LIMITS}
"""


def _write_csv(path: Path, megabytes: int) -> None:
    """Mixed columns (decimals, integers, dates, booleans, empty cells, quoted text with
    commas, quotes and line breaks): a block of random rows written over and over."""
    rng = random.Random(11)
    texts = ["plain", '"with, comma"', '"say ""hi"""', '"two\nlines"', "", "word"]
    rows = [
        f"{rng.random() * 1000:.2f},{rng.randint(-99, 99)},"
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
        f"{rng.choice(('true', 'false', ''))},{rng.choice(texts)},{'n' * rng.randint(0, 30)}\n"
        for _ in range(50_000)
    ]
    block = "".join(rows).encode()
    with path.open("wb") as out:
        out.write(b"amount,count,day,flag,text,note\n")
        while out.tell() < megabytes * MIB:
            out.write(block)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    config = tmp_path / "chute.toml"
    config.write_text(CONFIG)
    env = {"CHUTE_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    with start_server(tmp_path / "data", env) as live:
        yield live


def test_a_map_over_row_chunks_converts_a_200_mb_csv_as_one_step_does(server, tmp_path):
    source = tmp_path / "orders.csv"
    _write_csv(source, SIZE_MB)
    s3 = s3_client(server)
    s3.upload_file(
        str(source), "inbox", "orders.csv", Config=TransferConfig(multipart_chunksize=8 * MIB)
    )
    source.unlink()

    def converted(bucket: str) -> bool:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return any(entry["Key"] == "orders.parquet" for entry in listed)

    wait_until(lambda: converted("single") and converted("mapped"), timeout=300)
    tables = {
        bucket: pq.read_table(
            io.BytesIO(s3.get_object(Bucket=bucket, Key="orders.parquet")["Body"].read())
        )
        for bucket in ("single", "mapped")
    }
    whole, joined = tables["single"], tables["mapped"]
    assert whole.num_rows > SIZE_MB * 10_000
    assert joined.schema == whole.schema
    assert joined.equals(whole)
    # The status counts the Map's item jobs instead of listing them.
    status = httpx.get(f"{server.url}/_/api/v1/buckets/inbox/status/orders.csv", headers=ROOT_AUTH)
    mapped = next(run for run in status.json()["runs"] if run["pipeline"] == "mapped")
    assert [step["step"] for step in mapped["steps"]] == ["split", "join"]
    assert mapped["items_succeeded"]["convert"] >= SIZE_MB // 16
    # The chunks and their Parquet parts were the run's items, not objects.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="mapped")["Contents"]] == ["orders.parquet"]
