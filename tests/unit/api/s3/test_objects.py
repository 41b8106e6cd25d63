"""The ``x-amz-copy-source`` header of CopyObject and UploadPartCopy."""

from __future__ import annotations

import pytest

from chute.api.s3.objects import copy_source
from chute.errors import InvalidArgument, InvalidKey


@pytest.mark.parametrize(
    "header",
    [
        "photos/2024/a b.jpg",
        "/photos/2024/a b.jpg",
        "photos/2024/a%20b.jpg",
        # The whole value URL-encoded, separator included, as JavaScript's
        # encodeURIComponent(`${bucket}/${key}`) and the S3 documentation's "must be
        # URL-encoded" have it: S3 decodes the value before splitting off the bucket.
        "photos%2F2024%2Fa%20b.jpg",
        "%2Fphotos%2F2024%2Fa%20b.jpg",
    ],
)
def test_bucket_and_key_however_encoded(header: str) -> None:
    assert copy_source(header) == ("photos", "2024/a b.jpg", None)


def test_a_version_id_and_encoded_characters_of_the_key() -> None:
    header = "b/%C3%A9t%C3%A9%3F%2B%25.txt?versionId=v%2F1"
    assert copy_source(header) == ("b", "\u00e9t\u00e9?+%.txt", "v/1")


@pytest.mark.parametrize("header", ["", "/", "bucket", "bucket/", "%2Fbucket%2F", "/key"])
def test_a_bucket_and_a_key_are_required(header: str) -> None:
    with pytest.raises(InvalidArgument):
        copy_source(header)


def test_a_key_of_invalid_utf8_is_refused() -> None:
    with pytest.raises(InvalidKey):
        copy_source("bucket/%FF")
