"""Health endpoints: liveness (the process answers) and readiness (its dependencies do).

``/health`` touches nothing but the process, so a supervisor restarts Chute only when it
is stuck itself. ``/ready`` probes the catalog database and the blob store and answers
503 (with ``Retry-After``) while one of them fails, so a load balancer sends requests
elsewhere meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from chute import __version__
from chute.api.rest.deps import object_service
from chute.api.rest.models.health import Health, ReadinessView
from chute.api.rest.routes import SmallBodyRoute
from chute.errors import ServiceUnavailable

router = APIRouter(tags=["health"], route_class=SmallBodyRoute)


@router.get("/health", summary="Liveness check")
async def health() -> Health:
    """The server process answers (nothing else is checked)."""
    return Health(version=__version__)


@router.get(
    "/ready",
    summary="Readiness check",
    response_model=ReadinessView,
    responses={503: {"model": ReadinessView, "description": "A dependency is failing."}},
)
async def ready(request: Request) -> JSONResponse:
    """Whether the catalog database and the blob store answer now: 200, or 503 naming the
    component that failed and its error."""
    readiness = await run_in_threadpool(object_service(request).readiness)
    view = ReadinessView.of(readiness, __version__)
    if readiness.ready:
        return JSONResponse(view.model_dump())
    retry = max(
        (
            c.error.retry_after
            for c in readiness.components
            if isinstance(c.error, ServiceUnavailable)
        ),
        default=ServiceUnavailable.retry_after,
    )
    return JSONResponse(view.model_dump(), status_code=503, headers={"retry-after": str(retry)})
