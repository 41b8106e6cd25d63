"""Building the settings: :func:`load_settings` reads flags, ``CHUTE_*`` variables and the
TOML file, and fails with one message per broken rule, naming the field and its variable."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chute.errors import ConfigError
from chute.settings.model import CONFIG_FILE, Settings


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings; raises :class:`ConfigError` listing every problem.

    ``config_file`` (or ``CHUTE_CONFIG``) names a TOML file; ``overrides`` win over
    everything (command-line flags). ``None`` overrides are ignored.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    path = Path(config_file) if config_file else None
    if path is None and os.environ.get("CHUTE_CONFIG"):
        path = Path(os.environ["CHUTE_CONFIG"])
    problems: list[str] = []
    if path is not None:
        problems += _check_toml(path)
    if problems:
        raise ConfigError(problems)
    try:
        return _build(path, overrides)
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None


def _check_toml(path: Path) -> list[str]:
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except FileNotFoundError:
        return [f"config file {path} does not exist"]
    except tomllib.TOMLDecodeError as exc:
        return [f"config file {path} is not valid TOML: {exc}"]
    return []


def _build(path: Path | None, overrides: dict[str, Any]) -> Settings:
    token = CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    finally:
        CONFIG_FILE.reset(token)


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(settings)"
    env = "CHUTE_" + "__".join(str(part).upper() for part in error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{field} ({env}): {message}"
