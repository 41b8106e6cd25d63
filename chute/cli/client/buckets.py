"""Service and bucket endpoints of the client: health, buckets and their versioning."""

from __future__ import annotations

from chute.api.rest.models.buckets import (
    BucketList,
    BucketView,
    CreateBucket,
    VersioningState,
    VersioningStatus,
)
from chute.api.rest.models.health import Health
from chute.cli.client.transport import Transport, bucket_path, request_body


class BucketEndpoints(Transport):
    """The server's health, and buckets: make, describe, list, delete, versioning."""

    def health(self) -> Health:
        """The server's liveness answer, with its version."""
        return self._json(Health, "GET", "/health")

    def list_buckets(self) -> list[BucketView]:
        """Every bucket."""
        return self._json(BucketList, "GET", "/buckets").buckets

    def create_bucket(self, bucket: str, *, versioning: bool = False) -> BucketView:
        """Create a bucket, versioned from the start if asked; returns its description."""
        body = request_body(CreateBucket(versioning="enabled")) if versioning else None
        return self._json(BucketView, "PUT", bucket_path(bucket), json=body)

    def get_bucket(self, bucket: str) -> BucketView:
        """A bucket's description (``NoSuchBucket`` if it does not exist)."""
        return self._json(BucketView, "GET", bucket_path(bucket))

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket (``BucketNotEmpty`` otherwise)."""
        self._request("DELETE", bucket_path(bucket))

    def get_versioning(self, bucket: str) -> VersioningStatus:
        """``unversioned``, ``enabled`` or ``suspended``."""
        return self._json(VersioningState, "GET", bucket_path(bucket) + "/versioning").status

    def set_versioning(self, bucket: str, status: VersioningStatus) -> VersioningStatus:
        """Set versioning to ``enabled`` or ``suspended``; returns the new state."""
        body = request_body(VersioningState(status=status))
        path = bucket_path(bucket) + "/versioning"
        return self._json(VersioningState, "PUT", path, json=body).status
