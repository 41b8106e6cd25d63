"""Migrations run on every start, so several processes may run them at once; a catalog an
older Chute wrote upgrades in place."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import chute.queue.messages.schema
import chute.queue.schema  # noqa: F401  (the queue's tables are in the metadata too)
from chute.blobs import BlobKind
from chute.blobs.local import LocalBlobStore
from chute.catalog import Catalog
from chute.catalog.engine import MIGRATIONS, create_catalog_engine, migrate
from chute.catalog.schema import metadata
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import registered
from tests.services import POSTGRES_URL, require_postgres

MIGRATE = "import sys; from chute.catalog import Catalog; c = Catalog(sys.argv[1]); c.migrate()"


def test_concurrent_starts_migrate_once(catalog_url: str) -> None:
    # Separate processes: alembic keeps its migration context in module globals.
    starts = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, catalog_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    try:
        for start in starts:
            _, errors = start.communicate(timeout=120)
            assert start.returncode == 0, errors.decode()
    finally:  # a failed start must not leave the others running into later tests
        for start in starts:
            start.kill()
            start.wait()
    engine = sa.create_engine(catalog_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            heads = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert heads == [(ScriptDirectory(str(MIGRATIONS)).get_current_head(),)]


# --- the schema the migrations make, on an empty database -----------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def empty_catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database, with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    require_postgres()
    name = f"chute_old_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_the_migrations_create_the_declared_schema(empty_catalog_url: str) -> None:
    """What the tables in ``metadata`` declare is what the migrations made: columns and
    their types, keys, indexes, on SQLite and PostgreSQL."""
    engine = create_catalog_engine(empty_catalog_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            if conn.dialect.name == "sqlite":
                # Tables whose ids are cursors never reuse one (AUTOINCREMENT).
                for table in metadata.tables.values():
                    if table.kwargs.get("sqlite_autoincrement"):
                        found = conn.exec_driver_sql(
                            "SELECT sql FROM sqlite_master WHERE name = ?", (table.name,)
                        ).scalar_one()
                        assert "AUTOINCREMENT" in found, table.name
    finally:
        engine.dispose()


# --- upgrading a catalog an older Chute wrote ---------------------------------------------


def _old_blob(store: LocalBlobStore, data: bytes) -> str:
    with store.open_write() as writer:
        writer.write(data)
        return writer.commit().blob_id


def _old_catalog(url: str, store: LocalBlobStore) -> dict[tuple[str, str, str], bytes]:
    """A catalog at revision 0003 with the data that version wrote: small objects in
    ``small_blobs`` under ``c-`` ids, a copy sharing its source's blob, several versions,
    a delete marker. Returns what each (bucket, key, version) must read back."""
    engine = create_catalog_engine(url)
    migrate(engine, "0003")
    now = datetime.now(UTC)
    big, small = os.urandom(200_000), b"small and inline"
    big_id, small_id = _old_blob(store, big), "c-" + uuid.uuid4().hex
    rows = [  # key, version id, blob id, bytes, is latest
        ("big.bin", "v1", big_id, big, False),
        ("big.bin", "v2", small_id, small, True),
        ("copy.bin", "c1", big_id, big, True),  # a copy: the same blob as big.bin v1
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO buckets (id, name, versioning, created_at) "
                "VALUES (1, 'media', 'enabled', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text("INSERT INTO small_blobs (blob_id, data) VALUES (:id, :data)"),
            {"id": small_id, "data": small},
        )
        for key, version_id, blob_id, data, latest in rows:
            conn.execute(_OLD_VERSION, _old_version(key, version_id, blob_id, data, latest, now))
        marker = _old_version("gone.txt", "m1", None, b"", True, now) | {"is_delete_marker": True}
        conn.execute(_OLD_VERSION, marker)
        # The extracted metadata of a version deleted since, whose id was the highest.
        conn.execute(
            sa.text(
                "INSERT INTO object_metadata (source_row, data, updated_at) "
                'VALUES (50, \'{"image": {"format": "png"}}\', :now)'
            ),
            {"now": now},
        )
    engine.dispose()
    return {("media", key, version_id): data for key, version_id, _, data, _ in rows}


_OLD_VERSION = sa.text(
    "INSERT INTO object_versions (bucket_id, key, version_id, is_latest, is_delete_marker, "
    "blob_id, size, etag, sha256, content_type, user_metadata, created_at) VALUES (1, :key, "
    ":version_id, :is_latest, :is_delete_marker, :blob_id, :size, :etag, :sha256, "
    "'application/octet-stream', '{}', :created_at)"
)


def _old_version(
    key: str, version_id: str, blob_id: str | None, data: bytes, latest: bool, now: datetime
) -> dict[str, object]:
    return {
        "key": key,
        "version_id": version_id,
        "is_latest": latest,
        "is_delete_marker": False,
        "blob_id": blob_id,
        "size": len(data),
        "etag": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "created_at": now,
    }


def test_a_catalog_of_the_previous_schema_upgrades_in_place(
    empty_catalog_url: str, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    expected = _old_catalog(empty_catalog_url, store)
    # What the previous release left behind: a blob no version references, a write cut off.
    orphan = _old_blob(store, b"left behind by a crash")
    cut_off = store.open_write()
    cut_off.write(b"half an upload")
    catalog = Catalog(empty_catalog_url)
    catalog.migrate()
    try:
        service = ObjectService(catalog, store, "us-east-1", 2**30)
        for (bucket, key, version_id), data in expected.items():
            version = service.head(CTX, bucket, key, version_id)
            assert b"".join(service.open(CTX, bucket, key, version_id).body) == data
            assert version.etag == hashlib.md5(data).hexdigest()
        kinds = {record.kind for record in registered(catalog).values()}
        assert kinds == {BlobKind.STORE, BlobKind.INLINE}
        assert len(registered(catalog)) == 2  # the copy shares big.bin's blob
        with catalog.read() as session:
            tables = set(sa.inspect(session.conn).get_table_names())
        assert "small_blobs" not in tables
        report = service.sweep(CTX, timedelta(0))
        assert report.orphan_blobs == 0  # every registered blob is referenced
        assert report.leftover_blobs == 2  # the store was listed once, for the old release
        assert orphan not in {blob.blob_id for blob in store.list()}
        assert list(store.partials()) == []
        cut_off.abort()
        after_upgrade = service.put(CTX, "media", "after.txt", [b"written after the upgrade"])
        if empty_catalog_url.startswith("sqlite"):
            # A new version never takes the id a deleted one had: no stale metadata,
            # run or lineage row can name it.
            assert after_upgrade.id > 50
            with catalog.read() as session:
                assert session.lineage.object_metadata(50) is None
        assert (
            b"".join(service.open(CTX, "media", "after.txt").body) == b"written after the upgrade"
        )
    finally:
        catalog.close()
