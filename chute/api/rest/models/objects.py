"""Objects: versions and delete markers, listings, an object's detail, and copies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from chute.api.rest.models.events import EventView
from chute.api.rest.models.time import Timestamp
from chute.api.rest.params import Text

if TYPE_CHECKING:
    from chute.catalog import ObjectVersion
    from chute.objects.listing import Listing, VersionListing
    from chute.objects.records import ObjectDetail


class _Version(BaseModel):
    """What versions and delete markers share."""

    bucket: str
    key: str
    version_id: str
    is_latest: bool
    last_modified: Timestamp


class VersionView(_Version):
    """An object version holding bytes."""

    size: int
    etag: str
    sha256: str
    content_type: str
    metadata: dict[str, str]

    @classmethod
    def of(cls, bucket: str, version: ObjectVersion) -> VersionView:
        return cls(
            bucket=bucket,
            key=version.key,
            version_id=version.version_id,
            is_latest=version.is_latest,
            last_modified=version.created_at,
            size=version.size,
            etag=version.etag,
            sha256=version.sha256,
            content_type=version.content_type,
            metadata=version.user_metadata,
        )


class DeleteMarkerView(_Version):
    """A delete marker: the version a delete adds in a versioned bucket."""

    delete_marker: Literal[True]

    @classmethod
    def of(cls, bucket: str, version: ObjectVersion) -> DeleteMarkerView:
        return cls(
            bucket=bucket,
            key=version.key,
            version_id=version.version_id,
            is_latest=version.is_latest,
            last_modified=version.created_at,
            delete_marker=True,
        )


AnyVersion = VersionView | DeleteMarkerView


def any_version(bucket: str, version: ObjectVersion) -> AnyVersion:
    """A version or a delete marker, as the record is."""
    if version.is_delete_marker:
        return DeleteMarkerView.of(bucket, version)
    return VersionView.of(bucket, version)


class ObjectList(BaseModel):
    """A page of latest versions in key order; ``next_continuation_token`` resumes it."""

    objects: list[VersionView]
    common_prefixes: list[str]
    is_truncated: bool
    next_continuation_token: str | None

    @classmethod
    def of(cls, bucket: str, page: Listing) -> ObjectList:
        return cls(
            objects=[VersionView.of(bucket, v) for v in page.objects],
            common_prefixes=page.common_prefixes,
            is_truncated=page.is_truncated,
            next_continuation_token=page.next_token,
        )


class VersionList(BaseModel):
    """A page of versions and delete markers: keys in order, newest version first, and
    the common prefixes keys rolled up into."""

    versions: list[AnyVersion]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None

    @classmethod
    def of(cls, bucket: str, page: VersionListing) -> VersionList:
        return cls(
            versions=[any_version(bucket, v) for v in page.versions],
            common_prefixes=page.common_prefixes,
            is_truncated=page.is_truncated,
            next_key_marker=page.next_key,
            next_version_id_marker=page.next_version_id,
        )


class ObjectDetailView(BaseModel):
    """Every version of a key and every event about it."""

    bucket: str
    key: str
    versions: list[AnyVersion]
    events: list[EventView]

    @classmethod
    def of(cls, detail: ObjectDetail) -> ObjectDetailView:
        return cls(
            bucket=detail.bucket,
            key=detail.key,
            versions=[any_version(detail.bucket, v) for v in detail.versions],
            events=[EventView.of(e) for e in detail.events],
        )


class ObjectRef(BaseModel):
    """An object, optionally one version of it."""

    bucket: Text
    key: str
    version_id: Text | None = None


class CopyRequest(BaseModel):
    """A server-side copy; ``metadata`` and ``content_type`` replace the source's."""

    source: ObjectRef
    destination: ObjectRef
    metadata: dict[str, str] | None = None
    content_type: Text | None = None
