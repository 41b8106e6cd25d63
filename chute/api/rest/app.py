"""The JSON API application.

Everything lives under ``/_/api/v1``: bucket names cannot start with ``_``, so this prefix
never collides with the S3 API's ``/{bucket}`` paths when both are served on one port.
Every route but the health probes needs an access key (see :mod:`chute.api.rest.auth`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from chute import __version__
from chute.api.http.observe import ObservedRequests, anonymous_context, unguarded_context
from chute.api.rest import buckets, events, functions, health, keys, objects, processing
from chute.api.rest.auth import Authentication
from chute.api.rest.deps import Services
from chute.api.rest.errors import DEFAULT_RESPONSE, install_error_handlers

PREFIX = "/_/api/v1"
#: Routes anyone may call: supervisors and load balancers probe them without a key.
PUBLIC_PATHS = frozenset({f"{PREFIX}/health", f"{PREFIX}/ready"})
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
        dependencies=[Depends(Authentication(PUBLIC_PATHS))],
    )
    app.state.services = services
    install_error_handlers(app)
    # Each module's router straight into the app: FastAPI matches a request against
    # nested routers again at every level, a quarter of a small request's routing cost.
    for module in (health, buckets, objects, events, processing, keys, functions):
        app.include_router(module.router, prefix=PREFIX, responses=DEFAULT_RESPONSE)
    # Until authentication says who asked, a request may do nothing; with it off, anything.
    context_of = anonymous_context if services.authenticator else unguarded_context
    app.add_middleware(ObservedRequests, hooks=services.hooks, api=API_NAME, context_of=context_of)
    return app
