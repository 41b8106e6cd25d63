"""The small-PUT baseline: a bare ASGI app that reads the body and answers 200.

Run by ``benchmarks/s3.py`` under uvicorn, driven by the same client as Chute, so the
ratio shows what Chute's work per request (signature, catalog transaction, event) costs
over the HTTP server alone.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"etag", b'"d41d8cd98f00b204e9800998ecf8427e"'), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
