"""The shape of ``[multipart]`` in chute.toml: S3 multipart uploads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MiB = 1024 * 1024
DAY = 86400.0
#: S3's smallest part: every part of an upload but the last must be at least this big.
MIN_PART_SIZE = 5 * MiB


class MultipartSettings(BaseModel):
    """Multipart uploads: how small a part may be, and how long an upload nobody
    completes or aborts is kept."""

    model_config = ConfigDict(extra="forbid")

    #: Bytes every part but the last must have when the upload is completed (S3: 5 MiB).
    min_part_size: int = Field(default=MIN_PART_SIZE, ge=1)
    #: Seconds after its start an incomplete upload is aborted, its parts freed (0: never).
    abort_after_seconds: float = Field(default=7 * DAY, ge=0)
    #: How often expired uploads are looked for (by one process at a time).
    interval_seconds: float = Field(default=3600.0, gt=0)
