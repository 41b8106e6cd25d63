"""Buckets: create, look up, delete, and their versioning state."""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from chute.blobs.records import BlobRecord
from chute.catalog import Bucket, Catalog, CatalogSession, Versioning
from chute.clock import Clock
from chute.errors import BucketNotEmpty, InvalidArgument, NoSuchBucket
from chute.names import check_bucket_name


class Buckets:
    """Bucket operations over the catalog."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog = catalog
        self.clock = clock

    def create(
        self,
        name: str,
        versioning: Versioning = Versioning.UNVERSIONED,
        location: str | None = None,
    ) -> Bucket:
        """Create a bucket; ``BucketAlreadyExists`` if the name is taken."""
        check_bucket_name(name)
        return self.catalog.run_write(
            lambda session: session.create_bucket(name, versioning, self.clock(), location)
        )

    def configure(self, name: str, **settings: Any) -> Bucket:
        """Change the bucket's ``public_read``, ``cors`` or ``notifications``."""

        def work(session: CatalogSession) -> Bucket:
            bucket = require_bucket(session, name)
            session.configure_bucket(bucket.id, **settings)
            return dataclasses.replace(bucket, **settings)

        return self.catalog.run_write(work)

    def ensure(self, name: str) -> Bucket:
        """The bucket ``name``, created if missing (for buckets named in the config)."""
        check_bucket_name(name)
        return self.catalog.run_write(
            lambda session: (
                session.get_bucket(name)
                or session.create_bucket(name, Versioning.UNVERSIONED, self.clock())
            )
        )

    def get(self, name: str) -> Bucket:
        with self.catalog.read() as session:
            return require_bucket(session, name)

    def list(self) -> list[Bucket]:
        with self.catalog.read() as session:
            return session.list_buckets()

    def delete(self, name: str) -> builtins.list[BlobRecord]:
        """Delete an empty bucket (no versions, no delete markers). Multipart uploads in
        progress do not keep it (as in S3): they are aborted with it. Returns the store
        blobs of their parts, for the caller to free."""

        def work(session: CatalogSession) -> builtins.list[BlobRecord]:
            bucket = require_bucket(session, name)
            if session.bucket_has_versions(bucket.id):
                raise BucketNotEmpty(f"bucket {name!r} is not empty")
            multipart = session.multipart
            part_blobs = multipart.remove_uploads(multipart.of_bucket(bucket.id))
            session.delete_bucket(bucket.id)
            return session.blobs.release(part_blobs)

        return self.catalog.run_write(work)

    def set_versioning(self, name: str, state: Versioning) -> Bucket:
        """Enable or suspend versioning. As in S3, a bucket that has been versioned can
        never go back to unversioned."""

        def work(session: CatalogSession) -> Bucket:
            bucket = require_bucket(session, name)
            if state is Versioning.UNVERSIONED and bucket.versioning is not state:
                raise InvalidArgument("versioning can be enabled or suspended, not turned off")
            session.set_versioning(bucket.id, state)
            return dataclasses.replace(bucket, versioning=state)

        return self.catalog.run_write(work)


def require_bucket(session: CatalogSession, name: str) -> Bucket:
    """The bucket ``name``; ``NoSuchBucket`` if there is none."""
    bucket = session.get_bucket(name)
    if bucket is None:
        raise NoSuchBucket(f"no bucket {name!r}")
    return bucket
