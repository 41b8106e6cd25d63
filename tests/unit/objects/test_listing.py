"""Continuation tokens, apart from any catalog."""

from __future__ import annotations

import base64
import string

import pytest

from chute.errors import InvalidArgument
from chute.objects.listing import decode_token, encode_token

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
