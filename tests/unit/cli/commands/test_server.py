"""``chute serve`` before any server starts: the environment variables its help names, and
a broken configuration refused with one line per problem and exit 2. These run the
installed ``chute`` entry point, for its real exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chute.cli.main import app

CHUTE = str(Path(sys.executable).parent / "chute")


def chute_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHUTE_")}
    env.update(extra)
    return env


def test_help_names_the_environment_variables() -> None:
    serve = CliRunner().invoke(app, ["serve", "--help"])
    for variable in ("CHUTE_CONFIG", "CHUTE_ADDRESS", "CHUTE_DATA_DIR", "CHUTE_DATABASE_URL"):
        assert variable in serve.stdout


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"CHUTE_ADDRESS": "nope"}, [], "address (CHUTE_ADDRESS)"),
        ({}, ["--address", "127.0.0.1:99999"], "address (CHUTE_ADDRESS)"),
        ({"CHUTE_LOG_LEVEL": "loud"}, [], "log_level (CHUTE_LOG_LEVEL)"),
        ({}, ["--config", "missing.toml"], "config file missing.toml does not exist"),
    ],
)
def test_serve_rejects_a_broken_configuration(
    tmp_path: Path, env: dict[str, str], args: list[str], expected: str
) -> None:
    result = subprocess.run(
        [CHUTE, "serve", *args],
        env=chute_env(CHUTE_DATA_DIR=str(tmp_path), **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("error: ") and expected in line for line in lines), lines
