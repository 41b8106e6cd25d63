"""One settings object for the whole program, validated at start-up.

Values come, highest priority first, from explicit overrides (command-line flags), ``CHUTE_*``
environment variables (nested fields with ``__``: ``CHUTE_BLOBS__BACKEND=s3``), the TOML file
named by ``--config`` / ``CHUTE_CONFIG``, and the defaults below. A broken configuration fails
with one message per broken rule, naming the field and where it came from.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from chute.errors import ConfigError
from chute.pipelines.config import PipelineConfig, WorkerSettings

GiB = 1024**3
#: Default size up to which an object's bytes are kept in the catalog, not the blob store.
SMALL_BLOB_LIMIT = 64 * 1024


class BlobSettings(BaseModel):
    """Where blob bytes live: ``[blobs]`` in chute.toml."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "memory", "s3"] = "local"
    #: local: folder for blobs (default ``<data_dir>/blobs``).
    path: Path | None = None
    #: s3: bucket that holds the blobs, optional key prefix, endpoint for non-AWS stores.
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    #: s3: bytes buffered per multipart part (S3's minimum is 5 MiB).
    part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)

    @model_validator(mode="after")
    def _check_bucket(self) -> Self:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("bucket is required when backend is 's3'")
        return self


class Settings(BaseSettings):
    """Chute's configuration (``chute.toml`` and ``CHUTE_*`` variables)."""

    model_config = SettingsConfigDict(
        env_prefix="CHUTE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    #: Folder for everything Chute keeps locally: SQLite catalog, local blobs.
    data_dir: Path = Path("chute-data")
    #: host:port the server listens on. Anything but loopback is logged as a warning until
    #: access keys exist.
    address: str = "127.0.0.1:9000"
    #: SQLAlchemy URL of the catalog; default ``sqlite:///<data_dir>/catalog.db``.
    database_url: str | None = None
    #: Region reported in S3 event records and bucket ARNs.
    region: str = "us-east-1"
    #: Largest object accepted by a single PUT, in bytes.
    max_object_size: int = Field(default=5 * GiB, gt=0)
    #: Objects up to this many bytes keep their bytes in the catalog instead of the blob
    #: store: one transaction, no file, no extra fsync (0 turns this off).
    small_blob_limit: int = Field(default=SMALL_BLOB_LIMIT, ge=0, le=1024 * 1024)
    #: An upload whose client sends no bytes for this long fails with 408, so stalled
    #: clients cannot hold the server's worker threads.
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    #: Buckets created on start if missing.
    buckets: list[str] = Field(default_factory=list)
    #: Unreferenced blobs and partial uploads younger than this are left alone by the sweep,
    #: since another process may be about to commit them.
    sweep_grace_seconds: float = Field(default=3600.0, ge=0)
    #: ``chute serve`` sweeps on start and then this often (0: on start only), so what
    #: killed attempts and cut-off uploads left behind does not pile up.
    sweep_interval_seconds: float = Field(default=3600.0, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    blobs: BlobSettings = Field(default_factory=BlobSettings)
    #: Declarative pipelines by name (``[pipelines.<name>]``).
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_address(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]

    @property
    def catalog_url(self) -> str:
        """The catalog database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def is_loopback(self) -> bool:
        """Whether the server address is reachable from this machine only."""
        host = self.host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get("CHUTE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def split_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:9000`` for IPv6) into its parts."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port (e.g. 127.0.0.1:9000)")
    return host.strip("[]"), int(port)


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
    previous = os.environ.get("CHUTE_CONFIG")
    # The TOML source reads CHUTE_CONFIG; point it at the file chosen here for this call.
    if path is not None:
        os.environ["CHUTE_CONFIG"] = str(path)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            os.environ.pop("CHUTE_CONFIG", None)
        else:
            os.environ["CHUTE_CONFIG"] = previous


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(settings)"
    env = "CHUTE_" + "__".join(str(part).upper() for part in error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{field} ({env}): {message}"
