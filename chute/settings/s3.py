"""The shape of ``[s3]`` in chute.toml: how the S3 API is addressed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class S3Settings(BaseModel):
    """The S3 API, served at the server root beside the JSON API (``/_/api/v1``)."""

    model_config = ConfigDict(extra="forbid")

    #: Base domain for virtual-host style requests: with ``s3.example.test``, a request
    #: to ``photos.s3.example.test`` is about bucket ``photos``. Path style
    #: (``/photos/key``) always works.
    domain: str | None = None
    #: Largest XML request body (DeleteObjects, CompleteMultipartUpload, bucket
    #: configuration), in bytes; larger ones are refused before they are read.
    max_xml_bytes: int = Field(default=2 * 1024 * 1024, gt=0)

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().strip(".").lower()
        if not value or " " in value or ":" in value:
            raise ValueError("must be a domain name such as s3.example.test (no port)")
        return value
