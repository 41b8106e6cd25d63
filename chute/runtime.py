"""The composition root: builds the catalog, blob store and services from settings.

``chute serve`` and the tests both start Chute through :func:`open_runtime`, so what runs
in tests is what runs in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from chute.blobs import BlobStore, open_blob_store
from chute.catalog import Catalog
from chute.config import Settings
from chute.objects import ObjectService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running Chute holds; close it to release files and connections."""

    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    objects: ObjectService

    def close(self) -> None:
        self.blobs.close()
        self.catalog.close()


def open_runtime(settings: Settings, *, sweep: bool = True) -> Runtime:
    """Migrate the catalog, open the blob store, create configured buckets, and sweep
    away what interrupted writes left behind."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    catalog.migrate()
    blobs = open_blob_store(settings.blobs, settings.data_dir)
    objects = ObjectService(
        catalog, blobs, settings.region, settings.max_object_size, settings.small_blob_limit
    )
    for name in settings.buckets:
        objects.ensure_bucket(name)
    if sweep:
        report = objects.sweep(timedelta(seconds=settings.sweep_grace_seconds))
        if report.orphan_blobs or report.partial_writes:
            log.info(
                "sweep removed %d orphan blobs and %d partial writes",
                report.orphan_blobs,
                report.partial_writes,
            )
    return Runtime(settings, catalog, blobs, objects)
