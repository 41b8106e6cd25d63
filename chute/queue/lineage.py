"""Queries about what runs produced: lineage from outputs back to their source, and
metadata that steps extracted, which can be searched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chute.catalog.schema import object_versions
from chute.queue.records import LineageRecord
from chute.queue.schema import lineage, object_metadata, runs
from chute.queue.sql import dialect_of

_INSERT_LINEAGE = lineage.insert()
_NEWEST_SOURCE = (
    sa.select(runs.c.bucket, runs.c.key, runs.c.source_row)
    .join(lineage, lineage.c.run_id == runs.c.id)
    .where(lineage.c.bucket == sa.bindparam("bucket"), lineage.c.key == sa.bindparam("key"))
    .order_by(lineage.c.id.desc())
    .limit(1)
)


class LineageSession:
    """Lineage and extracted-metadata queries inside one catalog transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = dialect_of(conn)

    def add_lineage(self, records: Iterable[LineageRecord], output_rows: Sequence[int]) -> None:
        """Link output versions to the run, job and attempt that wrote them."""
        rows = [
            {
                "run_id": r.run_id,
                "job_id": r.job_id,
                "step_run_id": r.step_run_id,
                "step": r.step,
                "bucket": r.bucket,
                "key": r.key,
                "version_id": r.version_id,
                "output_row": row_id,
            }
            for r, row_id in zip(records, output_rows, strict=True)
        ]
        if rows:
            self.conn.execute(_INSERT_LINEAGE, rows)

    def lineage_of_runs(self, run_ids: Sequence[int]) -> list[LineageRecord]:
        """Outputs of the given runs, oldest first."""
        query = sa.select(lineage).where(lineage.c.run_id.in_(list(run_ids))).order_by(lineage.c.id)
        return [
            LineageRecord(
                row.run_id,
                row.job_id,
                row.step_run_id,
                row.step,
                row.bucket,
                row.key,
                row.version_id,
            )
            for row in self.conn.execute(query)
        ]

    def newest_source(self, bucket: str, key: str) -> tuple[str, str, int | None] | None:
        """The source (bucket, key, version row) of the run that last wrote output
        ``bucket/key``, if a run wrote it."""
        row = self.conn.execute(_NEWEST_SOURCE, {"bucket": bucket, "key": key}).first()
        return None if row is None else (row[0], row[1], row[2])

    def merge_object_metadata(self, source_row: int, values: dict[str, Any], now: datetime) -> None:
        """Merge extracted metadata into what is stored for a version."""
        current = self.object_metadata(source_row)
        if current is None:
            self.conn.execute(
                object_metadata.insert().values(source_row=source_row, data=values, updated_at=now)
            )
            return
        self.conn.execute(
            object_metadata.update()
            .where(object_metadata.c.source_row == source_row)
            .values(data={**current, **values}, updated_at=now)
        )

    def object_metadata(self, source_row: int) -> dict[str, Any] | None:
        query = sa.select(object_metadata.c.data).where(object_metadata.c.source_row == source_row)
        row = self.conn.execute(query).first()
        return dict(row[0]) if row else None

    def find_by_metadata(
        self,
        bucket_id: int,
        prefix: str,
        conditions: Sequence[tuple[tuple[str, ...], str]],
        after_key: str | None,
        limit: int,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Live objects of a bucket whose extracted metadata has every ``(path, value)``
        of ``conditions`` (a path into nested fields, compared as text), in key order:
        ``(key, version_id, metadata)`` rows after ``after_key``."""
        versions = object_versions
        query = (
            sa.select(versions.c.key, versions.c.version_id, object_metadata.c.data)
            .join(object_metadata, object_metadata.c.source_row == versions.c.id)
            .where(
                versions.c.bucket_id == bucket_id,
                versions.c.is_latest,
                versions.c.key.startswith(prefix, autoescape=True),
            )
        )
        for path, value in conditions:
            query = query.where(self.dialect.json_text(object_metadata.c.data, path) == value)
        if after_key is not None:
            query = query.where(versions.c.key > after_key)
        rows = self.conn.execute(query.order_by(versions.c.key).limit(limit))
        return [(row.key, row.version_id, dict(row.data)) for row in rows]
