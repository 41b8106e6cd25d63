"""One port for both front ends: the JSON API under ``/_/``, the S3 API everywhere else.

Bucket names cannot start with ``_``, so a path-style S3 request never reaches the JSON
API; a virtual-host style request (its bucket in the host name) always goes to S3,
whatever its path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from chute.api.s3.request import bucket_in_host

JSON_PREFIX = "/_/"


class RootApp:
    """Dispatches each request to the JSON API or the S3 API."""

    def __init__(self, rest: ASGIApp, s3: ASGIApp, domain: str | None = None) -> None:
        self.rest = rest
        self.s3 = s3
        self.domain = domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the JSON API sets up the event loop's limits
            await self.rest(scope, receive, send)
            return
        if scope["type"] == "http" and not self._is_json(scope):
            await self.s3(scope, receive, send)
            return
        await self.rest(scope, receive, send)

    def _is_json(self, scope: Scope) -> bool:
        if not scope["path"].startswith(JSON_PREFIX):
            return False
        return bucket_in_host(scope, self.domain) is None
