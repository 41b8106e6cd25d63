"""Listing cursors apart from any catalog: continuation tokens and the bound past a
prefix."""

from __future__ import annotations

from chute.objects.listing import after_prefix


def test_after_prefix() -> None:
    assert after_prefix("abc/") == "abc0"
    assert after_prefix("a\ud7ff") == "a\ue000"
    assert after_prefix("a\U0010ffff") == "b"
    assert after_prefix("") is None
