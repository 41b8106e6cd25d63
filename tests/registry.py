"""Looking into the blob registry from tests."""

from __future__ import annotations

import sqlalchemy as sa

from chute.blobs import BlobKind, BlobRecord, BlobWriter
from chute.catalog import Catalog
from chute.catalog.schema import blobs
from chute.objects.service import ObjectService


def registered(catalog: Catalog, kind: BlobKind | None = None) -> dict[str, BlobRecord]:
    """Every registered blob (of ``kind``), by id."""
    query = sa.select(blobs.c.id)
    if kind is not None:
        query = query.where(blobs.c.kind == kind.value)
    with catalog.read() as session:
        ids = [row[0] for row in session.conn.execute(query)]
        found = {blob_id: session.blobs.get(blob_id) for blob_id in ids}
    return {blob_id: record for blob_id, record in found.items() if record is not None}


def kind_of(catalog: Catalog, blob_id: str | None) -> BlobKind | None:
    assert blob_id is not None
    with catalog.read() as session:
        record = session.blobs.get(blob_id)
    return None if record is None else record.kind


def unreferenced(catalog: Catalog) -> set[str]:
    """Registered blobs nothing points at (garbage the sweep would remove)."""
    ids = set(registered(catalog))
    with catalog.read() as session:
        return ids - session.blobs.in_use(ids)


def cut_off_write(service: ObjectService, data: bytes, *, commit: bool = True) -> BlobWriter:
    """A store write that registered its blob, then never recorded a version (its process
    died): what the sweep must find. ``commit=False`` leaves the write unfinished."""
    writer = service.blobs.open_write()
    moment = service.writes.clock()
    service.catalog.run_write(
        lambda session: session.blobs.reserve(writer.blob_id, writer.blob_id, moment)
    )
    writer.write(data)
    if commit:
        writer.commit()
    return writer
