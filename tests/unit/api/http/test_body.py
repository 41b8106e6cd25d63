"""Small bodies (JSON now, S3's XML later) are read within a size cap and a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from starlette.requests import Request

from chute.api.http import SmallBodyRequest, read_small_body
from chute.errors import BodyTimeout, ClientDisconnected, MaxMessageLengthExceeded


class Body:
    """The ``receive`` of a request sending ``chunks``, counting what was taken."""

    def __init__(self, chunks: Iterable[bytes], *, stall: bool = False) -> None:
        self.chunks = list(chunks)
        self.stall = stall
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        if not self.chunks:
            if self.stall:
                await asyncio.sleep(10)
            return {"type": "http.disconnect"}
        chunk = self.chunks.pop(0)
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks) or self.stall}


def request(body: Body, headers: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, body)


def read(body: Body, limit: int, headers: dict[str, str] | None = None) -> bytes:
    return asyncio.run(read_small_body(request(body, headers), 1.0, limit))


def test_a_body_within_the_cap_is_read_whole() -> None:
    assert read(Body([b"ab", b"cd"]), 4, {"content-length": "4"}) == b"abcd"


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    body = Body([b"x" * 10])
    with pytest.raises(MaxMessageLengthExceeded, match="10 bytes; the limit is 4"):
        read(body, 4, {"content-length": "10"})
    assert body.taken == 0
    assert MaxMessageLengthExceeded.status == 400  # as S3 answers it


def test_a_chunked_body_stops_being_read_past_the_cap() -> None:
    body = Body([b"x" * 3] * 1000)
    with pytest.raises(MaxMessageLengthExceeded):
        read(body, 10, {"transfer-encoding": "chunked"})
    assert body.taken == 12  # the read that passed the cap, no further


def test_a_stalled_body_is_a_timeout() -> None:
    with pytest.raises(BodyTimeout):
        asyncio.run(read_small_body(request(Body([b"{"], stall=True)), 0.05, 100))


def test_a_client_gone_mid_body_is_a_disconnect() -> None:
    class Gone(Body):
        async def __call__(self) -> dict[str, Any]:
            return {"type": "http.disconnect"}

    with pytest.raises(ClientDisconnected):
        read(Gone([]), 100)


def test_a_small_body_request_reads_its_json_with_the_cap() -> None:
    async def both() -> tuple[Any, bool]:
        fits = await SmallBodyRequest(request(Body([b'{"a": 1}'])), 1.0, 100).json()
        big = SmallBodyRequest(request(Body([b'{"a": "' + b"x" * 200 + b'"}'])), 1.0, 100)
        try:
            await big.json()
        except MaxMessageLengthExceeded:
            return fits, True
        return fits, False

    assert asyncio.run(both()) == ({"a": 1}, True)
