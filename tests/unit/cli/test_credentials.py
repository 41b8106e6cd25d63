"""Which access key the ``chute`` command finds, in order: flags, CHUTE_* variables, a
named profile, a local server's root-credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from chute.cli.credentials import find_credentials, is_loopback, local_data_dir
from chute.errors import CredentialsError

LOCAL = "http://127.0.0.1:9000"


def credentials_file(path: Path, profile: str, key: str, secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[{profile}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    return path


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_flags_win(here: Path) -> None:
    env = {"CHUTE_ACCESS_KEY": "ENVKEY", "CHUTE_SECRET_KEY": "envsecret"}
    found = find_credentials(LOCAL, "FLAGKEY", "flagsecret", environ=env)
    assert found is not None
    assert (found.access_key, found.secret_key, found.source) == ("FLAGKEY", "flagsecret", "flags")


def test_then_the_environment(here: Path) -> None:
    env = {"CHUTE_ACCESS_KEY": "ENVKEY", "CHUTE_SECRET_KEY": "envsecret"}
    found = find_credentials(LOCAL, environ=env)
    assert found is not None
    assert (found.access_key, found.source) == ("ENVKEY", "the environment")


@pytest.mark.parametrize(
    ("flags", "env"),
    [(("KEY", None), {}), ((None, None), {"CHUTE_SECRET_KEY": "s"})],
)
def test_half_a_key_is_an_error(
    here: Path, flags: tuple[str | None, str | None], env: dict[str, str]
) -> None:
    with pytest.raises(CredentialsError, match="both"):
        find_credentials(LOCAL, *flags, environ=env)


def test_a_named_profile(here: Path) -> None:
    path = credentials_file(here / "aws" / "credentials", "work", "PROFILEKEY", "p/s+")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(path)}
    found = find_credentials("https://chute.example.test", profile="work", environ=env)
    assert found is not None
    assert (found.access_key, found.secret_key) == ("PROFILEKEY", "p/s+")
    with pytest.raises(CredentialsError, match=r"no profile \[other\]"):
        find_credentials(LOCAL, profile="other", environ=env)


def test_aws_variables_and_the_default_profile_are_not_used_unasked(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(here))
    credentials_file(here / ".aws" / "credentials", "default", "AWSKEY", "awssecret")
    env = {"AWS_ACCESS_KEY_ID": "AWSKEY", "AWS_SECRET_ACCESS_KEY": "x", "AWS_PROFILE": "default"}
    assert find_credentials("https://chute.example.test", environ=env) is None


def test_a_local_servers_root_key(here: Path) -> None:
    credentials_file(here / "chute-data" / "root-credentials", "chute", "ROOTKEY", "rootsecret")
    found = find_credentials(LOCAL, environ={})
    assert found is not None
    assert found.access_key == "ROOTKEY"
    assert "root-credentials" in found.source
    assert find_credentials("http://localhost:9000", environ={}) is not None
    # Never for another machine's server.
    assert find_credentials("http://192.0.2.7:9000", environ={}) is None
    assert find_credentials("https://chute.example.test", environ={}) is None


def test_the_data_folder_a_local_server_uses(here: Path) -> None:
    assert local_data_dir({}) == here / "chute-data"
    (here / "chute.toml").write_text('data_dir = "from-toml"\n')
    assert local_data_dir({}) == here / "from-toml"
    (here / "other.toml").write_text('data_dir = "/abs/data"\n')
    assert local_data_dir({"CHUTE_CONFIG": "other.toml"}) == Path("/abs/data")
    assert local_data_dir({"CHUTE_DATA_DIR": "env-data"}) == here / "env-data"
    (here / "chute.toml").write_text("not toml = = =")
    assert local_data_dir({}) == here / "chute-data"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:9000", True),
        ("http://127.1.2.3", True),
        ("https://localhost:9443", True),
        ("http://[::1]:9000", True),
        ("http://10.0.0.1:9000", False),
        ("https://chute.example.test", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
