"""What reaches the log from a request: text a client chose cannot forge a line."""

from __future__ import annotations

from chute.api.http.logs import cause, printable
from chute.errors import CatalogUnavailable


def test_control_characters_are_escaped_and_the_rest_kept() -> None:
    assert printable("/b/objects/plain/ключ") == "/b/objects/plain/ключ"
    assert printable("a\nFAKE 200 OK\r\x1b[2J") == "a\\nFAKE 200 OK\\r\\x1b[2J"


def test_the_cause_of_an_error_is_what_the_dependency_said() -> None:
    error = CatalogUnavailable()
    error.__cause__ = OSError("connection to 10.0.0.5:5432 refused\nmore detail")
    assert cause(error) == "OSError: connection to 10.0.0.5:5432 refused"
    assert cause(ValueError("bad\x1bthing")) == "ValueError: bad\\x1bthing"
