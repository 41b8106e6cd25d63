"""Catalog fixtures: every test that takes ``catalog_url`` runs on SQLite and PostgreSQL.

PostgreSQL tests are fast because the schema is migrated once per test process into a
template database, and each test gets a fresh clone of it (``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog
from chute.objects import ObjectService
from tests.services import POSTGRES_URL, require_postgres


def _admin() -> sa.Engine:
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    """A migrated database to clone, one per test process."""
    require_postgres()
    name = f"chute_tpl_{worker_id}_{os.getpid()}"
    admin = _admin()
    _drop(admin, name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    catalog = Catalog(sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    catalog.migrate()
    catalog.close()
    yield name
    _drop(admin, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated catalog database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"chute_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    _drop(admin, name)
    admin.dispose()


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
