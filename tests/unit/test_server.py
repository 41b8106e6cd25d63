"""Start-up safety: a server reachable from other machines without access control is
announced loudly; TLS settings become uvicorn's options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chute.server import tls_options, warn_if_exposed
from chute.settings import load_settings

OPEN = {"enabled": False}


@pytest.mark.parametrize("address", ["0.0.0.0:9000", "[::]:9000", "192.0.2.10:9000"])
def test_non_loopback_address_without_auth_warns(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chute"):
        assert warn_if_exposed(load_settings(address=address, auth=OPEN))
    assert "no access control" in caplog.text
    assert address in caplog.text


@pytest.mark.parametrize("address", ["0.0.0.0:9000", "192.0.2.10:9000"])
def test_non_loopback_address_with_auth_is_quiet(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chute"):
        assert not warn_if_exposed(load_settings(address=address))
    assert caplog.text == ""


@pytest.mark.parametrize("address", ["127.0.0.1:9000", "localhost:9000", "[::1]:9000"])
def test_loopback_address_is_quiet(address: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chute"):
        assert not warn_if_exposed(load_settings(address=address, auth=OPEN))
    assert caplog.text == ""


def test_uvicorn_serves_through_the_guarded_protocol() -> None:
    from chute.api.http.protocol import GuardedHttpProtocol
    from chute.server import uvicorn_config

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    settings = load_settings(http={"max_connections": 50, "keep_alive_seconds": 0.5})
    config = uvicorn_config(settings, app)
    protocol = config.http
    assert isinstance(protocol, type)
    assert issubclass(protocol, GuardedHttpProtocol)
    assert protocol.limits.max_connections == 50
    assert protocol.limits.keep_alive == 0.5
    assert config.ws == "none"


def test_tls_files_become_uvicorn_options(tmp_path: Path) -> None:
    assert tls_options(load_settings()) == {}
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")
    settings = load_settings(tls={"cert_file": cert, "key_file": key})
    assert tls_options(settings) == {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


@pytest.mark.parametrize(
    ("tls", "problem"),
    [
        ({"cert_file": "cert.pem"}, "or neither"),
        ({"cert_file": "x", "key_file": "y"}, "not a file"),
    ],
)
def test_broken_tls_settings_are_refused(tls: dict[str, str], problem: str) -> None:
    with pytest.raises(Exception, match=problem):
        load_settings(tls=tls)
