"""Settings: sources, precedence, and one message per broken rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from chute.errors import ConfigError
from chute.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CHUTE_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.address == "127.0.0.1:9000"
    assert settings.data_dir == Path("chute-data")
    assert settings.catalog_url.startswith("sqlite:///")
    assert settings.catalog_url.endswith("chute-data/catalog.db")
    assert settings.blobs.backend == "local"
    assert settings.is_loopback


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "chute.toml"
    config.write_text(
        'address = "127.0.0.1:7000"\nregion = "eu-north-1"\n[blobs]\nbackend = "memory"\n'
    )
    monkeypatch.setenv("CHUTE_ADDRESS", "127.0.0.1:8000")
    settings = load_settings(config)
    assert (settings.address, settings.region, settings.blobs.backend) == (
        "127.0.0.1:8000",
        "eu-north-1",
        "memory",
    )
    assert load_settings(config, address="0.0.0.0:1").address == "0.0.0.0:1"
    assert not load_settings(config, address="0.0.0.0:1").is_loopback


def test_config_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('buckets = ["inbox"]\n')
    monkeypatch.setenv("CHUTE_CONFIG", str(config))
    assert load_settings().buckets == ["inbox"]


def test_every_broken_rule_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "chute.toml"
    config.write_text('max_object_size = -1\nnonsense = 1\n[blobs]\nbackend = "s3"\n')
    monkeypatch.setenv("CHUTE_ADDRESS", "nope")
    monkeypatch.setenv("CHUTE_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    fields = {problem.split(" ")[0] for problem in err.value.problems}
    assert fields == {"address", "database_url", "max_object_size", "nonsense", "blobs"}
    assert any("CHUTE_ADDRESS" in p for p in err.value.problems)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_building_settings_leaves_the_environment_alone(tmp_path: Path) -> None:
    import os
    import threading

    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text('region = "eu-west-1"\n')
    second.write_text('region = "ap-south-1"\n')
    before = dict(os.environ)
    regions: dict[str, str] = {}

    def build(name: str, path: Path) -> None:
        for _ in range(50):
            regions[name] = load_settings(path).region
            assert regions[name] == ("eu-west-1" if name == "a" else "ap-south-1")

    threads = [threading.Thread(target=build, args=arg) for arg in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert regions == {"a": "eu-west-1", "b": "ap-south-1"}
    assert dict(os.environ) == before


def test_multipart_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings().multipart
    assert (defaults.min_part_size, defaults.abort_after_seconds) == (5 * 2**20, 7 * 86400)
    config = tmp_path / "chute.toml"
    config.write_text("[multipart]\nmin_part_size = 1024\n")
    monkeypatch.setenv("CHUTE_MULTIPART__ABORT_AFTER_SECONDS", "60")
    settings = load_settings(config).multipart
    assert (settings.min_part_size, settings.abort_after_seconds) == (1024, 60)
    with pytest.raises(ConfigError, match="multipart"):
        load_settings(multipart={"min_part_size": 0})


def test_http_limits_have_defaults_and_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    http = load_settings().http
    assert (http.max_header_bytes, http.max_headers, http.max_url_bytes) == (65536, 100, 16384)
    assert (http.max_small_body_bytes, http.max_connections) == (1024 * 1024, 1000)
    monkeypatch.setenv("CHUTE_HTTP__KEEP_ALIVE_SECONDS", "0.5")
    monkeypatch.setenv("CHUTE_HTTP__MAX_CONNECTIONS", "0")
    with pytest.raises(ConfigError) as err:
        load_settings()
    (problem,) = err.value.problems
    assert problem.startswith("http.max_connections (CHUTE_HTTP__MAX_CONNECTIONS)")
    monkeypatch.setenv("CHUTE_HTTP__MAX_CONNECTIONS", "50")
    assert load_settings().http.keep_alive_seconds == 0.5
