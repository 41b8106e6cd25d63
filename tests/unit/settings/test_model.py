"""The settings object: what it derives from the values it was given."""

from __future__ import annotations

import pytest

from chute.settings import load_settings


def test_default_binds_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHUTE_ADDRESS", raising=False)
    monkeypatch.delenv("CHUTE_CONFIG", raising=False)
    assert load_settings().host == "127.0.0.1"
