"""Events in the AWS S3 Event Notification record format.

Every change to an object is stored as an event row in the same transaction as the change
(``chute.catalog``); this module names the event types and renders a row as the record S3
would send, so code written for S3-triggered functions reads Chute's events unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

if TYPE_CHECKING:
    # Only for annotations: importing the catalog would load SQLAlchemy, and the CLI
    # reads event names and times from here.
    from chute.catalog.records import EventRow


class EventName(StrEnum):
    """The S3 event names Chute emits."""

    OBJECT_CREATED_PUT = "ObjectCreated:Put"
    OBJECT_CREATED_POST = "ObjectCreated:Post"
    OBJECT_CREATED_COPY = "ObjectCreated:Copy"
    OBJECT_CREATED_COMPLETE_MULTIPART = "ObjectCreated:CompleteMultipartUpload"
    OBJECT_REMOVED_DELETE = "ObjectRemoved:Delete"
    OBJECT_REMOVED_DELETE_MARKER = "ObjectRemoved:DeleteMarkerCreated"


def format_time(moment: datetime | float) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as S3 writes ``eventTime``: every
    time Chute shows (API answers, event records, webhook payloads) is written so.
    ``moment`` is an aware datetime or unix seconds; a naive datetime is refused, since
    its zone is unknown."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a time to format must be timezone-aware")
        moment = moment.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def encode_key(key: str) -> str:
    """URL-encode a key as S3 does in event records: spaces become ``+``, ``/`` stays."""
    return quote_plus(key, safe="/")


def sequencer(event_id: int) -> str:
    """A hex string that grows with every event, hence per key (compare as equal-length
    strings, as S3 documents)."""
    return f"{event_id:016X}"


def render(row: EventRow) -> dict[str, Any]:
    """The S3 event record (one element of ``Records``) for a stored event."""
    s3_object: dict[str, Any] = {"key": encode_key(row.key)}
    if row.size is not None:
        s3_object["size"] = row.size
    if row.etag is not None:
        s3_object["eTag"] = row.etag
    if row.version_id is not None:
        s3_object["versionId"] = row.version_id
    s3_object["sequencer"] = sequencer(row.id)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": row.region,
        "eventTime": format_time(row.event_time),
        "eventName": row.event_name,
        "userIdentity": {"principalId": row.principal},
        "requestParameters": {"sourceIPAddress": row.source_ip},
        "responseElements": {"x-amz-request-id": row.request_id, "x-amz-id-2": row.request_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "chute",
            "bucket": {
                "name": row.bucket,
                "ownerIdentity": {"principalId": row.principal},
                "arn": f"arn:aws:s3:::{row.bucket}",
            },
            "object": s3_object,
        },
    }
