"""Buckets and versioning over the S3 API with boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client

from tests.e2e.s3.test_objects import code_of


def test_create_list_head_delete(s3: S3Client) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as again:
        s3.create_bucket(Bucket=name)
    assert code_of(again.value) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as full:
        s3.delete_bucket(Bucket=name)
    assert code_of(full.value) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=name)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_location_constraint(s3: S3Client) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    plain = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})  # type: ignore[typeddict-item]
    s3.create_bucket(Bucket=plain)
    assert str(s3.get_bucket_location(Bucket=name)["LocationConstraint"]) == "us-east-1"
    assert s3.get_bucket_location(Bucket=plain)["LocationConstraint"] is None
    with pytest.raises(ClientError) as other:
        s3.create_bucket(
            Bucket=f"b-{uuid.uuid4().hex[:12]}",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
    assert code_of(other.value) == "InvalidLocationConstraint"


@pytest.mark.parametrize("name", ["UPPER", "a", "-leading", "has_underscore", "x" * 64, "a..b"])
def test_invalid_bucket_names(s3: S3Client, name: str) -> None:
    with pytest.raises(ClientError) as bad:
        s3.create_bucket(Bucket=name)
    assert code_of(bad.value) == "InvalidBucketName"


def test_versioning(s3: S3Client, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]
    assert first != second
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    old = s3.get_object(Bucket=bucket, Key="doc", VersionId=first)
    assert (old["Body"].read(), old["VersionId"]) == (b"one", first)
    assert s3.head_object(Bucket=bucket, Key="doc", VersionId=first)["ContentLength"] == 3
    # copy from an old version
    s3.copy_object(
        Bucket=bucket,
        Key="restored",
        CopySource={"Bucket": bucket, "Key": "doc", "VersionId": first},
    )
    assert s3.get_object(Bucket=bucket, Key="restored")["Body"].read() == b"one"
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as hidden:
        s3.get_object(Bucket=bucket, Key="doc")
    assert code_of(hidden.value) == "NoSuchKey"
    assert hidden.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as on_marker:
        s3.head_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert on_marker.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    versions = s3.list_object_versions(Bucket=bucket, Prefix="doc")
    assert [v["VersionId"] for v in versions["Versions"]] == [second, first]
    assert [m["VersionId"] for m in versions["DeleteMarkers"]] == [marker]
    assert versions["DeleteMarkers"][0]["IsLatest"] is True
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=second)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"one"
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="doc", VersionId="f" * 32)
    assert code_of(missing.value) == "NoSuchVersion"


def test_suspended_versioning_writes_null_versions(s3: S3Client, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"n1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"n2")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", kept]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"n2"


def test_version_listing_pages_with_markers(s3: S3Client, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    written = []
    for key in ("a", "b"):
        for _ in range(3):
            written.append((key, s3.put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"]))
    seen = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    expected = [("a", v) for k, v in reversed(written) if k == "a"]
    expected += [("b", v) for k, v in reversed(written) if k == "b"]
    assert seen == expected


def test_unimplemented_subresources_say_so(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "x",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": 1},
                    }
                ]
            },
        )
    assert code_of(lifecycle.value) == "NotImplemented"
    assert lifecycle.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
