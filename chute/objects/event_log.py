"""The event log: one S3-format event per change, written in the change's transaction,
and read back in order from a cursor."""

from __future__ import annotations

from typing import Any

from chute.catalog import Bucket, Catalog, CatalogSession, EventRow, ObjectVersion, Versioning
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import InvalidArgument
from chute.events import EventName
from chute.hooks import Hooks

#: Most events one read returns.
MAX_EVENTS = 1000


class EventLog:
    """Records events (telling the hooks inside the transaction) and reads them."""

    def __init__(self, catalog: Catalog, region: str, clock: Clock, hooks: Hooks) -> None:
        self.catalog = catalog
        self.region = region
        self.clock = clock
        self.hooks = hooks

    def record(
        self,
        session: CatalogSession,
        name: EventName,
        bucket: Bucket,
        version: ObjectVersion,
        context: RequestContext,
    ) -> EventRow:
        """Append the event of a change to ``version``, in the change's transaction."""
        created = name.startswith("ObjectCreated")
        fields: dict[str, Any] = {
            "event_time": self.clock(),
            "event_name": name.value,
            "region": self.region,
            "bucket": bucket.name,
            "key": version.key,
            "version_id": (
                None if bucket.versioning is Versioning.UNVERSIONED else version.version_id
            ),
            "size": version.size if created else None,
            "etag": version.etag if created else None,
            "principal": context.principal,
            "source_ip": context.source_ip,
            "request_id": context.request_id,
        }
        event = EventRow(id=session.record_event(**fields), chain=context.chain, **fields)
        self.hooks.object_changed(session, event, version, bucket)
        return event

    def after(
        self, cursor: int = 0, limit: int = 100, bucket: str | None = None, key: str | None = None
    ) -> list[EventRow]:
        """Events after the cursor, oldest first."""
        if not 1 <= limit <= MAX_EVENTS:
            raise InvalidArgument(f"limit must be between 1 and {MAX_EVENTS}")
        with self.catalog.read() as session:
            return session.events_after(cursor, limit, bucket, key)
