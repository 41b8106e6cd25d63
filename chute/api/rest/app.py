"""The JSON API application.

Everything lives under ``/_/api/v1``: bucket names cannot start with ``_``, so this prefix
never collides with the S3 API's ``/{bucket}`` paths when both are served on one port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from chute import __version__
from chute.api.http.observe import ObservedRequests, unguarded_context
from chute.api.rest import buckets, events, health, objects, processing
from chute.api.rest.deps import Services
from chute.api.rest.errors import DEFAULT_RESPONSE, install_error_handlers

PREFIX = "/_/api/v1"
#: How the hooks name this front end.
API_NAME = "rest"
#: Worker threads for blocking service calls (disk, database); anyio's default is 40.
THREAD_LIMIT = 64


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
    yield


def create_app(services: Services) -> FastAPI:
    """The JSON API over ``services``."""
    app = FastAPI(
        title="Chute",
        version=__version__,
        summary="Object store, events and processing pipelines.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    api = APIRouter(prefix=PREFIX, responses=DEFAULT_RESPONSE)
    for module in (health, buckets, objects, events, processing):
        api.include_router(module.router)
    app.include_router(api)
    app.add_middleware(
        ObservedRequests, hooks=services.hooks, api=API_NAME, context_of=unguarded_context
    )
    return app
