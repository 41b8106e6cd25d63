"""The shape of ``[auth]`` in chute.toml: whether requests must be signed, and where the
key that encrypts access key secrets lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: The key file's name in the data folder, unless ``auth.key_file`` names another.
KEY_FILE = "master.key"
#: The file in the data folder that holds a generated root key, in AWS credentials form.
ROOT_CREDENTIALS_FILE = "root-credentials"


class AuthSettings(BaseModel):
    """Authentication of the API front ends (deny by default)."""

    model_config = ConfigDict(extra="forbid")

    #: Every request must carry an access key's signature (or its secret, as a bearer
    #: token); the key's grants say what it may do. ``false`` lets anyone do anything:
    #: only for a trusted network (the server warns when it listens beyond loopback).
    enabled: bool = True
    #: The 256-bit key that encrypts access key secrets in the catalog; created (mode
    #: 0600) on first start. Every server sharing a catalog needs the same file.
    #: Default: ``master.key`` in the data folder.
    key_file: Path | None = None
    #: How long a process trusts what it read of a key: a key disabled or removed
    #: elsewhere stops working here within this many seconds.
    cache_seconds: float = Field(default=5.0, ge=0, le=300)
