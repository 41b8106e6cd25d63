"""Multipart uploads in progress and their parts (``CatalogSession.multipart``).

An upload row says what the object will be once completed; each part row points at a
registered blob, which the row keeps alive (see ``chute.catalog.blobs``) until the upload
is completed (its blobs become the segments of the object's composite blob) or aborted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chute.blobs.checksums import ChecksumAlgorithm, ChecksumType
from chute.catalog.records import Part, Upload
from chute.catalog.schema import multipart_parts, multipart_uploads

_uploads = multipart_uploads
_parts = multipart_parts
_param = sa.bindparam

_GET_UPLOAD = sa.select(_uploads).where(_uploads.c.id == _param("id"))
_GET_PART_BLOB = sa.select(_parts.c.blob_id).where(
    _parts.c.upload_id == _param("upload_id"), _parts.c.part_number == _param("part_number")
)
_UPDATE_PART = (
    _parts.update()
    .where(
        _parts.c.upload_id == _param("where_upload_id"),
        _parts.c.part_number == _param("where_part_number"),
    )
    .values(
        blob_id=_param("blob_id"),
        size=_param("size"),
        md5=_param("md5"),
        checksum=_param("checksum"),
        created_at=_param("created_at"),
    )
)


class MultipartSession:
    """Upload and part queries inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- uploads ---------------------------------------------------------------------

    def add_upload(self, upload: Upload) -> None:
        checksum = None
        if upload.checksum_algorithm is not None:
            checksum = {
                "algorithm": upload.checksum_algorithm.value,
                "type": (upload.checksum_type or ChecksumType.FULL_OBJECT).value,
            }
        self.conn.execute(
            _uploads.insert().values(
                id=upload.id,
                bucket_id=upload.bucket_id,
                key=upload.key,
                content_type=upload.content_type,
                user_metadata=upload.user_metadata,
                headers=upload.headers or None,
                checksum=checksum,
                principal=upload.principal,
                initiated_at=upload.initiated_at,
            )
        )

    def get_upload(self, upload_id: str) -> Upload | None:
        row = self.conn.execute(_GET_UPLOAD, {"id": upload_id}).first()
        return _upload(row) if row is not None else None

    def list_uploads(
        self,
        bucket_id: int,
        lower: str,
        upper: str | None,
        limit: int,
        *,
        inclusive: bool = True,
        after_id: str | None = None,
    ) -> list[Upload]:
        """Uploads with keys in ``lower..upper`` (``upper`` excluded; ``inclusive``: whether
        ``lower`` itself may match), by key then id (initiation order). ``after_id``
        resumes inside key ``lower``, after that upload."""
        key, upload_id = _uploads.c.key, _uploads.c.id
        where: Any
        if after_id is not None:
            where = sa.or_(key > lower, sa.and_(key == lower, upload_id > after_id))
        else:
            where = key >= lower if inclusive else key > lower
        query = sa.select(_uploads).where(_uploads.c.bucket_id == bucket_id, where)
        if upper is not None:
            query = query.where(key < upper)
        query = query.order_by(key, upload_id).limit(limit)
        return [_upload(row) for row in self.conn.execute(query)]

    def initiated_before(self, moment: datetime, limit: int) -> list[Upload]:
        """Uploads begun before ``moment``, oldest first."""
        query = (
            sa.select(_uploads)
            .where(_uploads.c.initiated_at < moment)
            .order_by(_uploads.c.initiated_at)
            .limit(limit)
        )
        return [_upload(row) for row in self.conn.execute(query)]

    def of_bucket(self, bucket_id: int) -> list[str]:
        """The ids of every upload in progress in a bucket."""
        query = sa.select(_uploads.c.id).where(_uploads.c.bucket_id == bucket_id)
        return [row[0] for row in self.conn.execute(query)]

    def remove_uploads(self, upload_ids: Iterable[str]) -> list[str]:
        """Remove uploads and their parts; returns the blob ids the parts pointed at (to
        release, last in the transaction)."""
        ids = list(upload_ids)
        if not ids:
            return []
        blob_query = sa.select(_parts.c.blob_id).where(_parts.c.upload_id.in_(ids))
        blob_ids = [row[0] for row in self.conn.execute(blob_query)]
        self.conn.execute(_parts.delete().where(_parts.c.upload_id.in_(ids)))
        self.conn.execute(_uploads.delete().where(_uploads.c.id.in_(ids)))
        return blob_ids

    # --- parts -----------------------------------------------------------------------

    def put_part(self, part: Part) -> str | None:
        """Record ``part``, replacing the part of that number if there is one; returns the
        blob id the replaced part pointed at."""
        key = {"upload_id": part.upload_id, "part_number": part.part_number}
        old = self.conn.execute(_GET_PART_BLOB, key).scalar()
        values = {
            "blob_id": part.blob_id,
            "size": part.size,
            "md5": part.md5,
            "checksum": part.checksum,
            "created_at": part.created_at,
        }
        if old is None:
            self.conn.execute(_parts.insert().values(**key, **values))
            return None
        where = {"where_upload_id": part.upload_id, "where_part_number": part.part_number}
        self.conn.execute(_UPDATE_PART, {**where, **values})
        return str(old)

    def parts(self, upload_id: str, after: int = 0, limit: int | None = None) -> list[Part]:
        """The upload's parts numbered above ``after``, in order."""
        query = (
            sa.select(_parts)
            .where(_parts.c.upload_id == upload_id, _parts.c.part_number > after)
            .order_by(_parts.c.part_number)
        )
        if limit is not None:
            query = query.limit(limit)
        return [_part(row) for row in self.conn.execute(query)]


def _upload(row: sa.Row[Any]) -> Upload:
    checksum = row.checksum or {}
    algorithm = checksum.get("algorithm")
    kind = checksum.get("type")
    return Upload(
        id=row.id,
        bucket_id=row.bucket_id,
        key=row.key,
        content_type=row.content_type,
        user_metadata=dict(row.user_metadata),
        headers=dict(row.headers or {}),
        checksum_algorithm=ChecksumAlgorithm(algorithm) if algorithm else None,
        checksum_type=ChecksumType(kind) if kind else None,
        principal=row.principal,
        initiated_at=row.initiated_at,
    )


def _part(row: sa.Row[Any]) -> Part:
    return Part(
        upload_id=row.upload_id,
        part_number=row.part_number,
        blob_id=row.blob_id,
        size=row.size,
        md5=row.md5,
        checksum=row.checksum,
        created_at=row.created_at,
    )
