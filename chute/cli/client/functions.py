"""Function endpoints of the client: list and describe functions, invoke one, read its
logs after a cursor (admins only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from chute.api.rest.models.functions import (
    FunctionList,
    FunctionLogPage,
    FunctionView,
    InvocationView,
    InvokeRequest,
)
from chute.cli.client.transport import Transport, request_body

#: How long an invocation may take to answer: a function runs up to 900 s (Lambda's
#: limit), then its environment may need a cold start.
INVOKE_TIMEOUT = httpx.Timeout(960.0, connect=5.0)


def function_path(name: str) -> str:
    """The URL path of a function, named by its name or its ARN."""
    return "/functions/" + quote(name, safe="")


class FunctionEndpoints(Transport):
    """The server's functions, their invocations and their logs."""

    def list_functions(self) -> list[FunctionView]:
        return self._json(FunctionList, "GET", "/functions").functions

    def get_function(self, name: str) -> FunctionView:
        return self._json(FunctionView, "GET", function_path(name))

    def invoke(self, name: str, payload: Any, *, event: bool = False) -> InvocationView:
        """Run function ``name`` on ``payload`` and wait for its result; ``event``:
        queue it instead (answered at once, ``status`` ``queued``)."""
        body = request_body(InvokeRequest(payload=payload, event=event))
        path = function_path(name) + "/invoke"
        return self._json(InvocationView, "POST", path, json=body, timeout=INVOKE_TIMEOUT)

    def function_logs(self, name: str, *, after: int = 0, limit: int = 100) -> FunctionLogPage:
        """Invocation logs of ``name`` after cursor ``after``, oldest first."""
        params = {"after": after, "limit": limit}
        return self._json(FunctionLogPage, "GET", function_path(name) + "/logs", params=params)
