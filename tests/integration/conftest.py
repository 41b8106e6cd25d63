"""Catalog fixtures over ``catalog_url`` (see ``tests/conftest.py``): every test that
takes them runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog
from chute.objects.service import ObjectService


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    catalog = Catalog(catalog_url)
    catalog.migrate()
    yield catalog
    catalog.close()


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def service(catalog: Catalog, blobs: MemoryBlobStore) -> ObjectService:
    """Every object in the blob store (``test_small_blobs`` covers catalog-held ones)."""
    return ObjectService(
        catalog, blobs, region="eu-west-1", max_object_size=64 * 1024 * 1024, small_blob_limit=0
    )
