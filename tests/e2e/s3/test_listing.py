"""Listings over the S3 API: prefixes, delimiters, pages, URL encoding."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from mypy_boto3_s3 import S3Client

KEYS = [
    "photos/2024/a.jpg",
    "photos/2024/b.jpg",
    "photos/2025/c.jpg",
    "photos/top.jpg",
    "docs/readme.md",
    "docs/guide/intro.md",
    "root.txt",
    "with space/x",
    "plus+sign",
]


@pytest.fixture
def filled(s3: S3Client, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_prefix_and_delimiter(s3: S3Client, filled: str) -> None:
    root = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in root["CommonPrefixes"]] == ["docs/", "photos/", "with space/"]
    assert [o["Key"] for o in root["Contents"]] == ["plus+sign", "root.txt"]
    photos = s3.list_objects_v2(Bucket=filled, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert [o["Key"] for o in photos["Contents"]] == ["photos/top.jpg"]
    assert photos["KeyCount"] == 3


def test_any_delimiter(s3: S3Client, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, Delimiter="o")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["do", "pho", "ro"]
    assert [o["Key"] for o in page["Contents"]] == ["plus+sign", "with space/x"]
    multi = s3.list_objects_v2(Bucket=filled, Delimiter="/20")
    assert [p["Prefix"] for p in multi["CommonPrefixes"]] == ["photos/20"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
def test_v2_pages_cover_everything_once(s3: S3Client, filled: str, page_size: int) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    keys, prefixes = [], []
    for page in paginator.paginate(
        Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": page_size}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["plus+sign", "root.txt"]
    assert prefixes == ["docs/", "photos/", "with space/"]


@pytest.mark.parametrize("page_size", [1, 2, 4])
def test_v1_pages_cover_everything_once(s3: S3Client, filled: str, page_size: int) -> None:
    paginator = s3.get_paginator("list_objects")
    keys, prefixes = [], []
    for page in paginator.paginate(
        Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": page_size}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["plus+sign", "root.txt"]
    assert prefixes == ["docs/", "photos/", "with space/"]
    flat = [
        o["Key"]
        for p in paginator.paginate(Bucket=filled, PaginationConfig={"PageSize": page_size})
        for o in p.get("Contents", [])
    ]
    assert flat == sorted(KEYS, key=str.encode)


def test_start_after_and_max_keys(s3: S3Client, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, StartAfter="photos/2024/a.jpg", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["photos/2024/b.jpg", "photos/2025/c.jpg"]
    assert page["IsTruncated"] is True
    empty = s3.list_objects_v2(Bucket=filled, MaxKeys=0)
    assert empty["KeyCount"] == 0


def test_url_encoding_applies_to_keys_and_prefixes(s3: S3Client, filled: str) -> None:
    # Asked for explicitly, boto3 hands back the encoded values as they came.
    page = s3.list_objects_v2(Bucket=filled, Delimiter="/", EncodingType="url")
    assert quote("with space/") in [p["Prefix"] for p in page["CommonPrefixes"]]
    assert "plus%2Bsign" in [o["Key"] for o in page["Contents"]]
    # Left to boto3 (it asks for url encoding by itself), they are decoded again.
    auto = s3.list_objects(Bucket=filled, Delimiter="/")
    assert "with space/" in [p["Prefix"] for p in auto["CommonPrefixes"]]
    assert "plus+sign" in [o["Key"] for o in auto["Contents"]]


def test_fetch_owner(s3: S3Client, filled: str) -> None:
    without = s3.list_objects_v2(Bucket=filled, MaxKeys=1)["Contents"][0]
    assert "Owner" not in without
    with_owner = s3.list_objects_v2(Bucket=filled, MaxKeys=1, FetchOwner=True)["Contents"][0]
    assert with_owner["Owner"]["ID"]


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_version_pages_roll_up_at_the_delimiter(s3: S3Client, filled: str, page_size: int) -> None:
    s3.put_bucket_versioning(Bucket=filled, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=filled, Key="root.txt", Body=b"again")
    s3.delete_object(Bucket=filled, Key="plus+sign")
    paginator = s3.get_paginator("list_object_versions")
    keys, prefixes = [], []
    for page in paginator.paginate(
        Bucket=filled, Delimiter="/", PaginationConfig={"PageSize": page_size}
    ):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        keys += [v["Key"] for v in entries]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert sorted(keys) == ["plus+sign", "plus+sign", "root.txt", "root.txt"]
    assert prefixes == ["docs/", "photos/", "with space/"]
    photos = s3.list_object_versions(Bucket=filled, Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert [v["Key"] for v in photos["Versions"]] == ["photos/top.jpg"]
