"""The root key at server start: generated, shown once and written for local clients;
or chosen through the environment, and rotated by changing it."""

from __future__ import annotations

import configparser
import logging
import stat
from pathlib import Path

import pytest

from chute.catalog import Catalog
from chute.errors import ConfigError
from chute.security.keys import KeyService
from chute.security.master_key import MasterKey
from chute.security.records import RootOrigin
from chute.security.root import start_root


@pytest.fixture
def keys(catalog: Catalog) -> KeyService:
    return KeyService(catalog, MasterKey.generate())


def profile(path: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser["chute"]["aws_access_key_id"], parser["chute"]["aws_secret_access_key"]


def test_a_generated_root_key_is_shown_once_and_written_owner_only(
    keys: KeyService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "root-credentials"
    with caplog.at_level(logging.INFO):
        root = start_root(keys, path, {})
    assert root.origin is RootOrigin.GENERATED
    assert caplog.text.count(root.secret) == 1
    assert root.key_id in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert profile(path) == (root.key_id, root.secret)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        again = start_root(keys, path, {})
    assert again.origin is RootOrigin.STORED
    assert root.secret not in caplog.text
    assert profile(path) == (root.key_id, root.secret)


def test_a_root_key_from_the_environment_is_not_written_or_shown(
    keys: KeyService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "root-credentials"
    env = {"CHUTE_ROOT_ACCESS_KEY": "OPSROOTKEY", "CHUTE_ROOT_SECRET_KEY": "ops-chosen-secret"}
    with caplog.at_level(logging.DEBUG):
        root = start_root(keys, path, env)
    assert (root.origin, root.key_id) == (RootOrigin.ENVIRONMENT, "OPSROOTKEY")
    assert "ops-chosen-secret" not in caplog.text
    assert not path.exists()


def test_rotating_through_the_environment_removes_a_stale_file(
    keys: KeyService, tmp_path: Path
) -> None:
    path = tmp_path / "root-credentials"
    generated = start_root(keys, path, {})
    env = {"CHUTE_ROOT_ACCESS_KEY": "OPSROOTKEY", "CHUTE_ROOT_SECRET_KEY": "ops-chosen-secret"}
    assert start_root(keys, path, env).origin is RootOrigin.ROTATED
    assert not path.exists()
    assert keys.credentials(generated.key_id) is None
    assert keys.credentials("OPSROOTKEY") is not None


def test_half_an_environment_root_key_is_refused(keys: KeyService, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both"):
        start_root(keys, tmp_path / "rc", {"CHUTE_ROOT_ACCESS_KEY": "OPSROOTKEY"})
