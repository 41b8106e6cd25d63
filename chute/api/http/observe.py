"""Requests as the hooks see them: an ASGI middleware both front ends wrap their app in.

It gives each request its :class:`~chute.context.RequestContext` (kept in the request's
state, so the handlers' service calls and the events they record carry the same request
id; authentication replaces it with the context of who signed the request) and, once the
answer has gone, tells the observers which operation was answered with which status, for
whom, and how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chute.access import EVERYTHING
from chute.context import ANONYMOUS, RequestContext
from chute.hooks import Hooks, RequestDone

#: Where the request's context is kept in its state.
CONTEXT_STATE = "chute_context"
#: The operation of a request no route matched.
UNMATCHED = "unmatched"
#: Where a front end that routes by itself names the operation in the request's scope.
OPERATION_SCOPE = "chute_operation"


def anonymous_context(scope: Scope) -> RequestContext:
    """The context of a request nobody authenticated: it may do nothing."""
    client = scope.get("client")
    return RequestContext(ANONYMOUS, client[0] if client else "")


def unguarded_context(scope: Scope) -> RequestContext:
    """The context of a request to a server with authentication turned off: anyone may
    do anything."""
    client = scope.get("client")
    return RequestContext(ANONYMOUS, client[0] if client else "", permissions=EVERYTHING)


class ObservedRequests:
    """ASGI middleware: a context per request, and :meth:`Hooks.request_done` after it."""

    def __init__(
        self,
        app: ASGIApp,
        hooks: Hooks,
        api: str,
        context_of: Callable[[Scope], RequestContext] = anonymous_context,
    ) -> None:
        self.app = app
        self.hooks = hooks
        self.api = api
        self.context_of = context_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[CONTEXT_STATE] = self.context_of(scope)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        body_left = _has_body(scope)

        async def observed_receive() -> Message:
            nonlocal body_left
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_left = False
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if body_left:
                    # Answered before the body was read (a refusal): a client that
                    # waited for "100 Continue" never sends it, one that did not is still
                    # sending. Either way the connection cannot carry another request.
                    headers = list(message.get("headers", []))
                    headers.append((b"connection", b"close"))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            operation = scope.get(OPERATION_SCOPE) or getattr(scope.get("route"), "name", None)
            seconds = time.perf_counter() - started
            context = state[CONTEXT_STATE]  # as authentication left it
            done = RequestDone(self.api, operation or UNMATCHED, status, seconds, context)
            self.hooks.request_done(done)


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above zero, or chunks)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False
