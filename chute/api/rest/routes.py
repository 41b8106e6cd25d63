"""The JSON API's route class: a route with a JSON body reads it within limits.

FastAPI reads a declared body whole before the handler runs, with no size or time limit.
Routes of this class hand it a request whose body is read by
:func:`chute.api.http.read_small_body` instead: at most ``http.max_small_body_bytes``
(400 ``MaxMessageLengthExceeded``, as S3 answers it), and 408 if the client stalls.
Routes without a body (the streaming object upload reads its own) are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from chute.api.http import SmallBodyRequest
from chute.api.rest.deps import services

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class SmallBodyRoute(APIRoute):
    """A route whose JSON body is read within the small-body cap and the body timeout."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def capped(request: Request) -> Response:
            found = services(request)
            limited = SmallBodyRequest(
                request, found.body_timeout_seconds, found.max_small_body_bytes
            )
            # Read here: FastAPI answers any failure while it reads a body with a bare 400.
            await limited.body()
            return await handler(limited)

        return capped
