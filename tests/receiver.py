"""A webhook receiver on a loopback port that records every request (a real HTTP
server, so signatures are checked on the bytes that crossed the wire)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Request:
    """One request the receiver got."""

    path: str
    #: Names in lower case.
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the test server answers, and what it was sent."""

    url: str
    status: int = 200
    #: Answers for particular paths, over :attr:`status`.
    statuses: dict[str, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: When set, the handler waits for :attr:`release` before answering.
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Request]:
        """The requests, once at least ``count`` have arrived (a client that gave up
        may have left before the server got round to reading its request)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
        return self.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handlers, so no socket outlives a test
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with receiver.arrived:
            receiver.requests.append(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            receiver.arrived.notify_all()
        if receiver.hold:
            receiver.release.wait(5)
        try:
            self.send_response(receiver.statuses.get(self.path, receiver.status))
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the client gave up waiting (the timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port until the block ends (for fixtures of a
    wider scope than :func:`receiver`)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.receiver
    finally:
        server.receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port, recording every request."""
    with running_receiver() as running:
        yield running
