"""The ``chute`` command with no server behind it: what it refuses before any request,
how it says the server is unreachable, its help, and that it starts light."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chute.cli.main import app


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_command_loads_neither_the_catalog_nor_the_web_framework() -> None:
    """Client commands start fast: the models they parse answers with are light."""
    code = (
        "import sys, chute.cli.main; "
        "print(sorted({'sqlalchemy', 'fastapi', 'starlette'} & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_unreachable_server_is_a_clear_error() -> None:
    url = closed_port_url()
    result = CliRunner().invoke(app, ["--url", url, "ls"])
    assert result.exit_code == 1
    assert f"cannot reach Chute at {url}" in result.stderr
    from_env = CliRunner().invoke(app, ["ls", "--json"], env={"CHUTE_URL": url})
    assert from_env.exit_code == 1
    assert f"cannot reach Chute at {url}" in from_env.stderr
    assert from_env.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["get", "nokey"],
        ["get", "/key"],
        ["get", "bucket/"],
        ["rm", "bucket"],
        ["ls", "/prefix"],
        ["put", "FILE", "bucket"],
        ["put", "no-such-file", "bucket/k"],
        ["put", "FILE", "bucket/k", "--meta", "no-value"],
        ["put", "FILE", "bucket/k", "--meta", "bad name=x"],
        ["events", "--limit", "0"],
        ["versioning", "bucket", "sometimes"],
        ["functions", "invoke", "f", "--payload", "{not json"],
        ["functions", "invoke", "f", "--payload", "@no-such-file"],
        ["logs", "f", "--limit", "0"],
        ["functions", "logs", "f", "--after", "-1"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    """Caught before any request: the URL points nowhere, which would be exit 1."""
    file = tmp_path / "f"
    file.write_bytes(b"x")
    source = str(file)
    args = [source if arg == "FILE" else arg for arg in args]
    result = CliRunner().invoke(app, ["--url", closed_port_url(), *args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr


def test_help_names_the_environment_variable() -> None:
    top = CliRunner().invoke(app, ["--help"])
    assert "CHUTE_URL" in top.stdout
