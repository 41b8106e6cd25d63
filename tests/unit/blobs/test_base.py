"""Blob ids and digests, the parts of the blob interface every backend shares."""

from __future__ import annotations

import hashlib
import re
from array import array

import pytest

from chute.blobs.base import BLOB_ID_LENGTH, MAX_PREFIX, Digests, is_blob_id, new_blob_id
from chute.errors import BlobError

BLOB_ID = re.compile(r"[0-9a-f]{32}")


# --- ids ---------------------------------------------------------------------------------


def test_a_new_id_is_32_lowercase_hex_digits() -> None:
    blob_id = new_blob_id()
    assert BLOB_ID_LENGTH == 32
    assert BLOB_ID.fullmatch(blob_id)
    assert is_blob_id(blob_id)


def test_every_new_id_differs() -> None:
    assert len({new_blob_id() for _ in range(1000)}) == 1000
    assert len({new_blob_id("abcd") for _ in range(1000)}) == 1000


@pytest.mark.parametrize("prefix", ["", "0", "abc", "0123456789", "0123456789abcdef"])
def test_an_id_starts_with_its_prefix_and_keeps_its_length(prefix: str) -> None:
    blob_id = new_blob_id(prefix)
    assert blob_id.startswith(prefix)
    assert len(blob_id) == BLOB_ID_LENGTH
    assert is_blob_id(blob_id)


def test_a_prefix_leaves_sixteen_random_digits_at_least() -> None:
    prefix = "f" * MAX_PREFIX
    assert MAX_PREFIX == 16
    assert len({new_blob_id(prefix)[MAX_PREFIX:] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("0123456789abcdef0", id="17-digits"),
        pytest.param("f" * 32, id="a-whole-id"),
        pytest.param("ABC", id="upper-case"),
        pytest.param("xyz", id="not-hex"),
        pytest.param("ab/", id="slash"),
        pytest.param("../", id="dots"),
        pytest.param(" ab", id="space"),
        pytest.param("ab\n", id="newline"),
        pytest.param("\u0663", id="arabic-indic-digit"),
        pytest.param("ab\x00", id="nul"),
    ],
)
def test_a_prefix_must_be_up_to_sixteen_lowercase_hex_digits(prefix: str) -> None:
    with pytest.raises(BlobError, match="not a blob id prefix"):
        new_blob_id(prefix)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("0" * 31, id="31-digits"),
        pytest.param("0" * 33, id="33-digits"),
        pytest.param("0123456789ABCDEF0123456789ABCDEF", id="upper-case"),
        pytest.param("0123456789abcdef0123456789abcdeg", id="not-hex"),
        pytest.param("0123456789abcdef0123456789abcdef\n", id="trailing-newline"),
        pytest.param("01234567-89ab-cdef-0123-456789abcdef", id="uuid-with-dashes"),
        pytest.param("../" + "0" * 29, id="path"),
        pytest.param("\u0663" * 32, id="arabic-indic-digits"),
    ],
)
def test_only_32_lowercase_hex_digits_are_an_id(text: str) -> None:
    assert not is_blob_id(text)


def test_an_id_of_the_right_form_is_an_id_whoever_made_it() -> None:
    assert is_blob_id("0123456789abcdef0123456789abcdef")
    assert is_blob_id("f" * 32)


# --- digests -----------------------------------------------------------------------------


def _expected(data: bytes) -> tuple[int, str, str]:
    return len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def test_no_bytes_have_the_digests_of_nothing() -> None:
    info = Digests().info("b1")
    assert (info.blob_id, info.size, info.md5, info.sha256) == ("b1", *_expected(b""))
    assert info.md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert Digests(b"").info("b1") == info


def test_bytes_passed_in_pieces_hash_as_the_whole() -> None:
    whole = bytes(range(256)) * 100
    digests = Digests(whole[:10])
    digests.update(bytearray(whole[10:1000]))
    digests.update(memoryview(whole)[1000:20000])
    digests.update(b"")
    digests.update(whole[20000:])
    info = digests.info("blob")
    assert (info.size, info.md5, info.sha256) == _expected(whole)
    assert digests.size == len(whole)
    assert Digests(whole).info("blob") == info


def test_a_memoryview_counts_bytes_not_items() -> None:
    items = array("I", [1, 2, 3])
    digests = Digests()
    digests.update(memoryview(items))
    assert digests.size == 3 * items.itemsize
    assert digests.info("b").sha256 == hashlib.sha256(items.tobytes()).hexdigest()


def test_info_reports_what_was_seen_so_far() -> None:
    digests = Digests(b"abc")
    first = digests.info("b")
    digests.update(b"def")
    assert (first.size, first.md5) == _expected(b"abc")[:2]
    assert (digests.info("b").size, digests.info("b").md5) == _expected(b"abcdef")[:2]
