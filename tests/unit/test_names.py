"""Key and bucket-name rules."""

from __future__ import annotations

import pytest

from chute.errors import InvalidBucketName, InvalidKey
from chute.names import check_bucket_name, check_key, decode_key


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "a/../b",
        "a/./b",
        "..",
        "..\\evil",
        "a\\..\\b",
        "",
        "nul\x00byte",
        "k" * 1025,
        "é" * 513,
    ],
)
def test_refused_keys(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


@pytest.mark.parametrize(
    "key",
    ["/etc/passwd", "back\\slash", "..hidden", "a..b/c", "sp ace", "日本/語", "k" * 1024, "a//b"],
)
def test_accepted_keys(key: str) -> None:
    # S3 accepts these; blobs are named by Chute, so none can reach a path.
    assert check_key(key) == key


def test_invalid_utf8_key() -> None:
    with pytest.raises(InvalidKey, match="UTF-8"):
        decode_key(b"bad\xff\xfe")
    with pytest.raises(InvalidKey, match="UTF-8"):
        check_key("lone \udc80 surrogate")


@pytest.mark.parametrize("name", ["abc", "my-bucket.example", "a1b2c3", "x" * 63])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


def test_bucket_name_message_names_the_rule() -> None:
    with pytest.raises(InvalidBucketName, match="IP address"):
        check_bucket_name("10.0.0.1")


def test_metadata_rules() -> None:
    from chute.errors import InvalidArgument
    from chute.names import check_content_type, check_metadata

    assert check_metadata({"Owner": "ann", "x_y-z": ""}) == {"owner": "ann", "x_y-z": ""}
    for bad in ({"sp ace": "v"}, {"k": "日本"}, {"k": "line\nbreak"}, {"k": "v" * 2048}):
        with pytest.raises(InvalidArgument):
            check_metadata(bad)
    with pytest.raises(InvalidArgument) as too_large:
        check_metadata({"k": "v" * 2048})
    assert (too_large.value.status, too_large.value.code) == (400, "MetadataTooLarge")
    assert check_content_type("image/png") == "image/png"
    for bad_type in ("t" * 256, "text/\u00e9", "a\r\nb: c"):
        with pytest.raises(InvalidArgument):
            check_content_type(bad_type)
