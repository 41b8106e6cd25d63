"""What the client's function endpoints send: a name (or an ARN) as one path segment,
the payload as the body's ``payload``, and an invocation's long timeout."""

from __future__ import annotations

import json
from typing import Any

import httpx

from chute.cli.client import ChuteClient
from chute.cli.client.functions import INVOKE_TIMEOUT

INVOKED = {"function": "f", "request_id": "r", "status": "succeeded", "payload": [1, "two"]}


def recording(sent: list[httpx.Request], answer: dict[str, Any]) -> ChuteClient:
    def respond(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=answer)

    return ChuteClient("http://chute.test", http_transport=httpx.MockTransport(respond))


def test_invoke_sends_the_payload_and_waits_long_enough() -> None:
    sent: list[httpx.Request] = []
    with recording(sent, INVOKED) as client:
        done = client.invoke("arn:aws:lambda:us-east-1:000000000000:function:f", {"a": [1]})
        client.invoke("f", None, event=True)
    assert sent[0].url.raw_path == (
        b"/_/api/v1/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invoke"
    )
    assert json.loads(sent[0].content) == {"payload": {"a": [1]}, "event": False}
    assert json.loads(sent[1].content) == {"payload": None, "event": True}
    assert sent[0].extensions["timeout"]["read"] == INVOKE_TIMEOUT.read
    assert done.payload == [1, "two"]


def test_logs_are_read_from_a_cursor() -> None:
    sent: list[httpx.Request] = []
    with recording(sent, {"entries": [], "next_cursor": 7}) as client:
        page = client.function_logs("my fn", after=7, limit=5)
    assert sent[0].url.raw_path == b"/_/api/v1/functions/my%20fn/logs?after=7&limit=5"
    assert page.next_cursor == 7
