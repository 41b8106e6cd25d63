"""The shape of ``[blobs]`` in chute.toml: where blob bytes live."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
