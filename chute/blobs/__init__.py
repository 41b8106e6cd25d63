"""Where object bytes live: one :class:`BlobStore` interface, one module per backend.

``local`` (files under the data folder, the default), ``memory`` (tests) and ``s3`` (any
S3-compatible server, needs ``pip install 'chute[s3]'``). :func:`open_blob_store` picks
one from the settings. Inline blobs (:mod:`~chute.blobs.inline`) keep small blobs' bytes
in the catalog (the blob registry, :mod:`chute.catalog.blobs`, records every blob's
kind), and :func:`stage` takes bytes in for uploads and worker outputs alike.
"""

from __future__ import annotations

from pathlib import Path

from chute.blobs.base import (
    READ_CHUNK,
    BlobInfo,
    BlobReader,
    BlobStore,
    BlobWriter,
    Digests,
    StoredBlob,
)
from chute.blobs.inline import inline_info, inline_reader, inline_record
from chute.blobs.local import LocalBlobStore
from chute.blobs.memory import MemoryBlobStore
from chute.blobs.records import BlobKind, BlobRecord, Segment
from chute.blobs.s3 import S3BlobStore
from chute.blobs.staging import StagedBlob, stage
from chute.errors import ConfigError
from chute.settings import BlobSettings

__all__ = [
    "READ_CHUNK",
    "BlobInfo",
    "BlobKind",
    "BlobReader",
    "BlobRecord",
    "BlobStore",
    "BlobWriter",
    "Digests",
    "Segment",
    "StagedBlob",
    "StoredBlob",
    "inline_info",
    "inline_reader",
    "inline_record",
    "open_blob_store",
    "stage",
]


def open_blob_store(settings: BlobSettings, data_dir: Path) -> BlobStore:
    """The blob store ``settings`` describe; local blobs default to ``<data_dir>/blobs``."""
    if settings.backend == "memory":
        return MemoryBlobStore()
    if settings.backend == "s3":
        return _open_s3(settings)
    return LocalBlobStore(settings.path or data_dir / "blobs")


def _open_s3(settings: BlobSettings) -> S3BlobStore:
    if not settings.bucket:
        raise ConfigError(["blobs.bucket (CHUTE_BLOBS__BUCKET): required when blobs.backend is s3"])
    return S3BlobStore(
        settings.bucket,
        prefix=settings.prefix,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        access_key_id=settings.access_key_id,
        secret_access_key=settings.secret_access_key,
        part_size=settings.part_size,
    )
