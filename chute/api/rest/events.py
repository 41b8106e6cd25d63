"""The event log, readable in order from a cursor."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from chute.api.rest.deps import object_service, request_context
from chute.api.rest.errors import error_responses
from chute.api.rest.models.events import EventPage, EventView
from chute.api.rest.params import MAX_ID, Text
from chute.api.rest.routes import SmallBodyRoute
from chute.errors import InvalidArgument

router = APIRouter(tags=["events"], route_class=SmallBodyRoute)


@router.get(
    "/events", summary="Read events after a cursor", responses=error_responses(InvalidArgument)
)
async def list_events(
    request: Request,
    after: int = Query(
        0, ge=0, le=MAX_ID, description="Return events after this cursor (an event id)."
    ),
    limit: int = Query(100, ge=1, le=1000),
    bucket: Text | None = None,
    key: Text | None = None,
) -> EventPage:
    """Events oldest first. Pass the returned ``next_cursor`` as ``after`` to resume."""
    rows = await run_in_threadpool(
        object_service(request).events, request_context(request), after, limit, bucket, key
    )
    next_cursor = rows[-1].id if rows else after
    return EventPage(events=[EventView.of(r) for r in rows], next_cursor=next_cursor)
