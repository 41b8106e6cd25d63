"""The JSON API's headers."""

from __future__ import annotations

from chute.api import http
from chute.api.rest import headers


def test_metadata_headers_are_named_as_the_object_headers_name_them() -> None:
    assert headers.METADATA_PREFIX == http.METADATA_PREFIX
