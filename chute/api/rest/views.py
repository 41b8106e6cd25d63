"""How catalog records look in the JSON API."""

from __future__ import annotations

from typing import Any

from chute.catalog import Bucket, EventRow, ObjectVersion
from chute.events import format_time, render


def bucket_view(bucket: Bucket) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "versioning": bucket.versioning.value,
        "created_at": format_time(bucket.created_at),
    }


def version_view(bucket: str, version: ObjectVersion) -> dict[str, Any]:
    view: dict[str, Any] = {
        "bucket": bucket,
        "key": version.key,
        "version_id": version.version_id,
        "is_latest": version.is_latest,
        "last_modified": format_time(version.created_at),
    }
    if version.is_delete_marker:
        view["delete_marker"] = True
        return view
    view.update(
        size=version.size,
        etag=version.etag,
        sha256=version.sha256,
        content_type=version.content_type,
        metadata=version.user_metadata,
    )
    return view


def event_view(event: EventRow) -> dict[str, Any]:
    return {"id": event.id, "record": render(event)}
