"""Probes for the real services tests use.

A missing service skips the test locally, with the reason shown, and fails it when
``CI=true``: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "CHUTE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) when a service is not available."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is not available, and CI=true requires it", pytrace=False)
    pytest.skip(f"{what} is not available")


def require_postgres() -> None:
    require(port_open("127.0.0.1", 5432), "PostgreSQL at 127.0.0.1:5432")
