"""Buckets: their descriptions, and the bodies that create them and set versioning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from chute.api.rest.models.time import Timestamp

if TYPE_CHECKING:
    from chute.catalog import Bucket

#: The values of :class:`chute.catalog.Versioning`, spelled out because importing the
#: catalog would load SQLAlchemy into the CLI; a test keeps the two in step.
VersioningStatus = Literal["unversioned", "enabled", "suspended"]


class CreateBucket(BaseModel):
    """Optional body of a bucket creation."""

    versioning: Literal["unversioned", "enabled"] = "unversioned"


class VersioningState(BaseModel):
    """A bucket's versioning state."""

    status: VersioningStatus

    @classmethod
    def of(cls, bucket: Bucket) -> VersioningState:
        return cls(status=bucket.versioning.value)


class BucketView(BaseModel):
    """A bucket."""

    name: str
    versioning: VersioningStatus
    created_at: Timestamp

    @classmethod
    def of(cls, bucket: Bucket) -> BucketView:
        versioning: VersioningStatus = bucket.versioning.value
        return cls(name=bucket.name, versioning=versioning, created_at=bucket.created_at)


class BucketList(BaseModel):
    """Every bucket."""

    buckets: list[BucketView]
