"""The guarded HTTP protocol, driven byte by byte over a transport that records what the
server writes: head caps, the head deadline, the connection cap, the lingering close."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from xml.etree import ElementTree

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from chute.api.http import protocol
from chute.api.http.logs import RateLimitedWarnings
from chute.api.http.protocol import ConnectionLimits, GuardedHttpProtocol, http_protocol

LIMITS = ConnectionLimits(
    max_header_bytes=4096,
    max_headers=20,
    max_url_bytes=1024,
    header_timeout=0.2,
    keep_alive=0.1,
    max_connections=4,
    linger=0.2,
)
GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """What the server wrote, and how it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.eof_written = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof_written, "written after the write side was shut"
        self.written += data

    def write_eof(self) -> None:
        self.eof_written = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 9000)}.get(name, default)

    @property
    def status(self) -> int | None:
        if not self.written:
            return None
        return int(bytes(self.written).split(b" ", 2)[1])

    def json(self) -> Any:
        """The error answered: ``code`` and ``message`` of its JSON or S3 XML body."""
        body = bytes(self.written).partition(b"\r\n\r\n")[2]
        if body.startswith(b"<?xml"):
            root = ElementTree.fromstring(body)
            return {"code": root.findtext("Code"), "message": root.findtext("Message")}
        return json.loads(body)


App = Callable[[Any, Any, Any], Awaitable[None]]


async def hello(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_early(scope: Any, receive: Any, send: Any) -> None:
    """Answers 404 without reading the body, asking to close (as a refused upload)."""
    headers = [(b"content-length", b"0"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def fail_after_answer(scope: Any, receive: Any, send: Any) -> None:
    """Answers 500, then raises (as Starlette's error middleware does)."""
    headers = [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
    raise RuntimeError("boom")


class Connections:
    """Makes connections to one server (shared state, one protocol class)."""

    def __init__(self, app: App = hello, limits: ConnectionLimits = LIMITS) -> None:
        self.config = Config(app, http=http_protocol(limits), ws="none", log_level="warning")
        self.config.load()
        self.state = ServerState()
        self.protocol_class = self.config.http_protocol_class

    def open(self) -> tuple[GuardedHttpProtocol, RecordingTransport]:
        connection = self.protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.state, app_state={}
        )
        assert isinstance(connection, GuardedHttpProtocol)
        transport = RecordingTransport()
        connection.connection_made(transport)
        return connection, transport


async def settle(seconds: float = 0.01) -> None:
    await asyncio.sleep(seconds)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_an_ordinary_request_is_answered() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        await settle()
        assert transport.status == 200
        assert bytes(transport.written).endswith(b"\r\n\r\n3")
        assert not transport.closed

    run(body)


def test_a_head_over_the_cap_is_431() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        assert transport.status == 431
        assert transport.json()["code"] == "RequestHeaderSectionTooLarge"
        assert transport.eof_written  # lingering: the rest of what it sends is dropped

    run(body)


def test_a_header_line_that_never_ends_is_refused_within_a_read_of_the_cap() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"GET /x HTTP/1.1\r\nX-Big: ")
        received = 0
        while transport.status is None:
            connection.data_received(b"a" * 1000)
            received += 1000
            assert received <= LIMITS.max_header_bytes + 1000
        assert transport.status == 431
        connection.data_received(b"a" * 100_000)  # dropped, not parsed
        assert transport.status == 431

    run(body)


def test_too_many_headers_is_431() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        headers = b"".join(b"X-%d: 1\r\n" % i for i in range(LIMITS.max_headers + 1))
        connection.data_received(b"GET /x HTTP/1.1\r\n" + headers + b"\r\n")
        assert transport.status == 431
        assert "header fields" in transport.json()["message"]

    run(body)


def test_a_long_request_target_is_414() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"GET /" + b"a" * LIMITS.max_url_bytes + b" HTTP/1.1\r\n\r\n")
        assert transport.status == 414
        assert transport.json()["code"] == "RequestURITooLong"

    run(body)


def test_heads_just_under_the_caps_are_served() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        url = b"/" + b"a" * (LIMITS.max_url_bytes - 1)
        headers = b"".join(b"X-%d: 1\r\n" % i for i in range(LIMITS.max_headers))
        connection.data_received(b"GET " + url + b" HTTP/1.1\r\n" + headers + b"\r\n")
        await settle()
        assert transport.status == 200

    run(body)


def test_pipelined_requests_each_get_their_own_head_count() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        head = b"GET /x HTTP/1.1\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
        connection.data_received(head + head)
        for _ in range(10):
            await settle()
        assert bytes(transport.written).count(b"HTTP/1.1 200") == 2

    run(body)


def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline() -> None:
    async def body() -> None:
        _, transport = Connections().open()
        await settle(LIMITS.header_timeout / 2)
        assert not transport.closed
        await settle(LIMITS.header_timeout)
        assert transport.closed
        assert not transport.written  # nothing asked, nothing answered

    run(body)


def test_a_head_that_dribbles_in_is_408_after_the_deadline() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        for byte in b"GET /x HTTP/1.1\r\nX-Slow: 1234567890":
            if transport.written:
                break
            connection.data_received(bytes([byte]))
            await settle(0.01)
        await settle(LIMITS.header_timeout)
        assert transport.status == 408
        assert transport.json()["code"] == "RequestTimeout"

    run(body)


def test_the_deadline_counts_from_the_first_byte_of_a_later_request() -> None:
    async def body() -> None:
        connection, transport = Connections(limits=_with(keep_alive=5.0)).open()
        connection.data_received(GET)
        await settle(LIMITS.header_timeout * 1.5)  # idle in keep-alive: no head deadline
        assert transport.status == 200
        assert not transport.closed
        connection.data_received(b"GET /x HTTP/1.1\r\n")
        await settle(LIMITS.header_timeout * 1.5)
        assert bytes(transport.written).count(b"HTTP/1.1 408") == 1

    run(body)


def test_an_idle_keep_alive_connection_is_closed() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(GET)
        await settle()
        assert transport.status == 200
        await settle(LIMITS.keep_alive * 2)
        assert transport.closed
        assert not transport.eof_written  # nothing unread: closed at once

    run(body)


def test_connections_over_the_cap_are_answered_503_then_reset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        connections = Connections()
        for _ in range(LIMITS.max_connections):
            assert connections.open()[1].status is None
        with caplog.at_level(logging.WARNING, logger="chute.api.http.protocol"):
            over = [connections.open()[1] for _ in range(protocol.REFUSING)]
        assert {t.status for t in over} == {503}
        assert over[0].json()["code"] == "SlowDown"
        assert b"retry-after: 1\r\n" in over[0].written
        assert all(t.eof_written and not t.aborted for t in over)
        assert caplog.text.count("connection limit of 4 reached") == 1  # rate limited
        beyond = connections.open()[1]
        assert beyond.aborted
        assert not beyond.written

    run(body)


def test_a_refused_connection_lingers_then_closes() -> None:
    async def body() -> None:
        connections = Connections(limits=_with(max_connections=1))
        connections.open()
        connection, transport = connections.open()
        connection.data_received(GET)  # the request it sends meanwhile is dropped
        assert transport.status == 503
        assert not transport.closed
        await settle(LIMITS.linger * 1.5)
        assert transport.closed

    run(body)


def test_an_answer_before_the_body_was_read_lingers() -> None:
    async def body() -> None:
        connection, transport = Connections(answer_early).open()
        connection.data_received(b"PUT /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc")
        await settle()
        assert transport.status == 404
        assert transport.eof_written
        assert not transport.closed
        connection.data_received(b"x" * 50_000)  # still arriving: read and dropped
        connection.eof_received()
        await settle(LIMITS.linger * 1.5)
        assert transport.closed

    run(body)


def test_an_app_that_fails_after_answering_lingers_too() -> None:
    async def body() -> None:
        connection, transport = Connections(fail_after_answer).open()
        connection.data_received(b"PUT /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc")
        await settle()
        assert transport.status == 500
        assert transport.eof_written  # the client reads the 500, not a reset

    run(body)


def test_a_request_read_to_the_end_closes_at_once() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
        await settle()
        assert transport.status == 200
        assert transport.closed
        assert not transport.eof_written

    run(body)


def test_garbage_is_400() -> None:
    async def body() -> None:
        connection, transport = Connections().open()
        connection.data_received(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert transport.status == 400

    run(body)


def _with(**changes: Any) -> ConnectionLimits:
    values = {name: getattr(LIMITS, name) for name in ConnectionLimits.__slots__}
    return ConnectionLimits(**{**values, **changes})


# --- the open files limit ---------------------------------------------------------------


def test_the_soft_limit_is_raised_and_the_cap_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"now": (1024, 65536)}
    monkeypatch.setattr(resource, "getrlimit", lambda _: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", lambda _, value: limits.update(now=value))
    assert protocol.connection_cap(1000) == 1000
    assert limits["now"] == (65536, 65536)


def test_the_cap_is_lowered_when_files_run_short(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    with caplog.at_level(logging.WARNING):
        cap = protocol.connection_cap(1000)
    assert cap == (1024 - protocol.FD_RESERVE - protocol.REFUSING) // 2
    assert "lowered from 1000" in caplog.text


# --- rate-limited warnings --------------------------------------------------------------


def test_repeated_warnings_are_held_back_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.warnings")
    warnings = RateLimitedWarnings(logger, interval=0.05)
    with caplog.at_level(logging.WARNING, logger="tests.warnings"):
        assert warnings.warn("cap", "cap hit")
        assert not warnings.warn("cap", "cap hit")
        assert not warnings.warn("cap", "cap hit")
        assert warnings.warn("other", "another kind")
        asyncio.run(settle(0.06))
        assert warnings.warn("cap", "cap hit")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "cap hit"
    assert lines[1] == "another kind"
    assert lines[2].startswith("cap hit (2 more like it held back")


def test_refusals_answer_s3_paths_in_xml_and_json_api_paths_in_json() -> None:
    async def body() -> None:
        for target, form in (
            (b"/photos/a.jpg", b"application/xml"),
            (b"/_/api/v1/x", b"application/json"),
        ):
            connection, transport = Connections().open()
            connection.data_received(
                b"GET " + target + b" HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
            )
            assert transport.status == 431
            assert b"content-type: " + form in bytes(transport.written)
            assert transport.json()["code"] == "RequestHeaderSectionTooLarge"

    run(body)
