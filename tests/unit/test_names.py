"""Key and bucket-name rules."""

from __future__ import annotations

import pytest

from chute.errors import InvalidBucketName, InvalidKey
from chute.names import after_key, after_prefix, check_bucket_name, check_key, decode_key


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


# --- bounds in key order ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [
        ("abc/", "abc0"),
        ("a", "b"),
        ("z", "{"),
        ("日本/", "日本0"),
        ("a\ud7ff", "a\ue000"),
        ("\ud7ff", "\ue000"),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
        ("a\ud7ff\U0010ffff", "a\ue000"),
        ("ab\U0010ffff", "ac"),
    ],
)
def test_after_prefix_is_the_least_string_past_the_prefix(prefix: str, bound: str) -> None:
    assert after_prefix(prefix) == bound


@pytest.mark.parametrize("prefix", ["", "\U0010ffff", "\U0010ffff\U0010ffff"])
def test_nothing_sorts_after_every_string_with_some_prefixes(prefix: str) -> None:
    assert after_prefix(prefix) is None


@pytest.mark.parametrize("prefix", ["abc/", "a\ud7ff", "a\U0010ffff", "日本/", "x\uffff"])
def test_every_key_under_the_prefix_sorts_below_the_bound(prefix: str) -> None:
    """In code points and in UTF-8 bytes, the order keys sort in."""
    bound = after_prefix(prefix)
    assert bound is not None
    assert not bound.startswith(prefix)
    for key in [prefix, prefix + "\x01", prefix + "~", prefix + "\U0010ffff" * 3]:
        assert key < bound
        assert key.encode("utf-8") < bound.encode("utf-8")
    assert prefix < bound


def test_after_prefix() -> None:
    assert after_prefix("abc/") == "abc0"
    assert after_prefix("a\ud7ff") == "a\ue000"
    assert after_prefix("a\U0010ffff") == "b"
    assert after_prefix("") is None


@pytest.mark.parametrize("key", ["a", "photos/", "日本", "\U0010ffff", "a\x01"])
def test_after_key_is_the_least_key_past_the_key(key: str) -> None:
    """No key holds a NUL, so nothing sorts between a key and its bound."""
    bound = after_key(key)
    assert key < bound < key + "\x01\x01" < key + "\x02"
    assert key.encode("utf-8") < bound.encode("utf-8")
