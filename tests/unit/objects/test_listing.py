"""Listing cursors apart from any catalog: continuation tokens and the bound past a
prefix."""

from __future__ import annotations

import base64
import string

import pytest

from chute.errors import InvalidArgument
from chute.objects.listing import after_prefix, decode_token, encode_token

URLSAFE = set(string.ascii_letters + string.digits + "-_=")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


# --- continuation tokens -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["k", "p"])
@pytest.mark.parametrize(
    "value",
    ["", "a", "photos/2024/", "日本/語.txt", "emoji 😀/", "a+b/c=d?e&f", "\U0010ffff", "k" * 1024],
)
def test_a_token_gives_back_its_kind_and_value(kind: str, value: str) -> None:
    token = encode_token(kind, value)
    assert set(token) <= URLSAFE
    assert decode_token(token) == (kind, value)


def test_tokens_of_different_places_differ() -> None:
    tokens = {encode_token(kind, value) for kind in "kp" for value in ("a", "a/", "b")}
    assert len(tokens) == 6


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("!!!!", id="no-base64-digit"),
        pytest.param("a", id="bad-padding"),
        pytest.param("ключ", id="not-ascii"),
        pytest.param(_b64(b"xphotos/"), id="unknown-kind"),
        pytest.param(_b64(b"K" + b"a"), id="kind-is-case-sensitive"),
        pytest.param(_b64(b"k\xff\xfe"), id="not-utf8"),
        pytest.param(_b64(b"k\x00"), id="only-a-nul"),
        pytest.param(_b64(b"kphotos/\x00a"), id="key-with-nul"),
        pytest.param(_b64(b"p\x00"), id="prefix-with-nul"),
    ],
)
def test_an_invalid_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument, match="continuation token is not valid"):
        decode_token(token)


# --- the bound past a prefix -------------------------------------------------------------


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
