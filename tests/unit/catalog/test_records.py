"""Records the catalog takes and returns, apart from any database."""

from __future__ import annotations

import pytest

from chute.catalog import ObjectVersion, Rollup
from chute.catalog.schema import object_versions
from chute.names import after_prefix


def test_version_rows_hold_the_fields_in_order() -> None:
    """Versions are read from rows by position."""
    assert [column.name for column in object_versions.c] == list(ObjectVersion.__slots__)


@pytest.mark.parametrize(
    ("prefix", "delimiter", "key", "common"),
    [
        ("", "/", "a/b/c", "a/"),
        ("", "/", "abc", None),
        ("a/", "/", "a/b", None),  # the prefix's own delimiter does not count
        ("a/", "/", "a/b/c", "a/b/"),
        ("a-", "--", "a--b", None),  # nor does a delimiter across the prefix's end
        ("a-", "--", "a-b--c--d", "a-b--"),
        ("", "--", "x---y", "x--"),
        ("p", "\U0001f600", "p日\U0001f600本", "p日\U0001f600"),
    ],
)
def test_a_key_rolls_up_to_its_first_delimiter_after_the_prefix(
    prefix: str, delimiter: str, key: str, common: str | None
) -> None:
    assert Rollup(prefix, delimiter).common_prefix(key) == common


@pytest.mark.parametrize("delimiter", ["/", "--", "a/", "\U0001f600", "a\U0010ffff", "\ud7ff"])
def test_past_a_common_prefix_is_past_every_key_under_it(delimiter: str) -> None:
    """The walk's bound: the prefix cut before its delimiter, then ``past``."""
    rollup = Rollup("p/", delimiter)
    common = f"p/x{delimiter}"
    past = rollup.past
    assert past is not None
    assert f"p/x{past}" == after_prefix(common)


def test_a_delimiter_of_only_the_last_code_point_has_no_past() -> None:
    assert Rollup("", "\U0010ffff").past is None
    assert Rollup("", "\U0010ffff\U0010ffff").past is None
