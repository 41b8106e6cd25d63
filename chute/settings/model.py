"""Chute's settings: one object for the whole program, validated at start-up.

Values come, highest priority first, from explicit overrides (command-line flags), ``CHUTE_*``
environment variables (nested fields with ``__``: ``CHUTE_BLOBS__BACKEND=s3``), the TOML file
named by ``--config`` / ``CHUTE_CONFIG``, and the defaults below. These are data only: what a
setting does lives in the service that reads it. :func:`chute.settings.load_settings` builds
them and reports every broken rule at once.
"""

from __future__ import annotations

import ipaddress
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from chute.settings.auth import KEY_FILE, ROOT_CREDENTIALS_FILE, AuthSettings
from chute.settings.blobs import BlobSettings
from chute.settings.functions import ConfiguredFunction, check_function_name
from chute.settings.http import HttpSettings
from chute.settings.multipart import MultipartSettings
from chute.settings.pipelines import PipelineConfig
from chute.settings.retention import RetentionSettings
from chute.settings.s3 import S3Settings
from chute.settings.tls import TlsSettings
from chute.settings.webhooks import WebhookConfig
from chute.settings.worker import WorkerSettings

GiB = 1024**3
#: Default size up to which an object's bytes are kept in the catalog, not the blob store.
SMALL_BLOB_LIMIT = 64 * 1024
#: The TOML file the settings being built read (set by ``load_settings`` for one call,
#: so building settings never rewrites the process's environment).
CONFIG_FILE: ContextVar[Path | None] = ContextVar("chute_config_file", default=None)


class Settings(BaseSettings):
    """Chute's configuration (``chute.toml`` and ``CHUTE_*`` variables)."""

    model_config = SettingsConfigDict(
        env_prefix="CHUTE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    #: Folder for everything Chute keeps locally: SQLite catalog, local blobs.
    data_dir: Path = Path("chute-data")
    #: host:port the server listens on. Anything but loopback is logged as a warning when
    #: authentication is off (``auth.enabled = false``).
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
    #: What the server accepts from a connection: header and body caps, timeouts.
    http: HttpSettings = Field(default_factory=HttpSettings)
    #: Declarative pipelines by name (``[pipelines.<name>]``).
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)
    #: Named webhook targets (``[webhooks.<name>]``), which bucket notification
    #: configurations name as SNS topics.
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)
    #: Lambda-style functions by name (``[functions.<name>]``).
    functions: dict[str, ConfiguredFunction] = Field(default_factory=dict)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    multipart: MultipartSettings = Field(default_factory=MultipartSettings)
    #: Access keys: who may do what (deny by default).
    auth: AuthSettings = Field(default_factory=AuthSettings)
    #: HTTPS: the certificate and key the server presents.
    tls: TlsSettings = Field(default_factory=TlsSettings)

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_address(value)
        return value

    @field_validator("functions")
    @classmethod
    def _check_function_names(
        cls, value: dict[str, ConfiguredFunction]
    ) -> dict[str, ConfiguredFunction]:
        for name in value:
            try:
                check_function_name(name)
            except ValueError as exc:
                raise ValueError(f"function {name!r}: {exc}") from None
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
    def key_file(self) -> Path:
        """The key file that encrypts access key secrets (``auth.key_file``)."""
        return self.auth.key_file or self.data_dir / KEY_FILE

    @property
    def root_credentials_file(self) -> Path:
        """Where a generated root key is written for local clients to find."""
        return self.data_dir / ROOT_CREDENTIALS_FILE

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
        config_file = CONFIG_FILE.get() or os.environ.get("CHUTE_CONFIG")
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
