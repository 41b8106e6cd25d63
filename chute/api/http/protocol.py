"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, with limits.

uvicorn's protocol buffers a request head of any size (httptools keeps a header value
until it ends), never times out a connection that has not finished a request's head, and
takes every connection it is offered. :class:`GuardedHttpProtocol` adds, below every
front end on the port:

* a cap on the request head (bytes, header fields, request-target length), counted as
  the bytes arrive, so no more than the cap plus one socket read (256 KiB) is held;
* a deadline for each request's head, from the connection's opening or the request's
  first byte: a client that idles or dribbles its headers (slowloris) is closed;
* a cap on open connections: beyond it a connection is answered 503 ``SlowDown`` and
  closed, beyond the cap and a little headroom it is reset at once;
* a lingering close: when the server closes a connection whose request it has not read
  to the end, it stops writing, then drops what still arrives for a moment before
  closing, so the client reads the answer instead of a reset.

A refusal made here is answered as the JSON API answers errors (``{code, message}``).
A cap hit is logged as a warning, at most once every ten seconds for each kind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from chute.api.http.logs import RateLimitedWarnings
from chute.errors import (
    ChuteError,
    ClientError,
    RequestHeaderSectionTooLarge,
    RequestHeaderTimeout,
    RequestURITooLong,
    ServiceUnavailable,
    SlowDown,
)
from chute.settings import HttpSettings

log = logging.getLogger(__name__)

#: File descriptors kept for everything but client connections: the catalog's pool,
#: worker pipes, logs, the listening socket.
FD_RESERVE = 256
#: Connections beyond the cap that may be waiting for their 503 at once; more are reset.
REFUSING = 64
#: The bytes a header line costs beyond its name and value (": " and CRLF).
_LINE_OVERHEAD = 4
#: Where the JSON API lives; every other path is the S3 API's (see chute.api.root).
JSON_API_PREFIX = b"/_/"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one server's connections may do (from ``[http]``, the cap as adjusted by
    :func:`connection_cap`)."""

    max_header_bytes: int
    max_headers: int
    max_url_bytes: int
    header_timeout: float
    keep_alive: float
    max_connections: int
    linger: float

    @classmethod
    def of(cls, settings: HttpSettings, max_connections: int | None = None) -> ConnectionLimits:
        return cls(
            settings.max_header_bytes,
            settings.max_headers,
            settings.max_url_bytes,
            settings.header_timeout_seconds,
            settings.keep_alive_seconds,
            max_connections or settings.max_connections,
            settings.linger_seconds,
        )


def http_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class for one server (uvicorn's ``http`` option), bound to ``limits``."""
    attributes = {"limits": limits, "warnings": RateLimitedWarnings(log)}
    return type("ChuteHttpProtocol", (GuardedHttpProtocol,), attributes)


def connection_cap(wanted: int) -> int:
    """The connection cap this process can keep: raises the soft limit on open files to
    the hard one, and lowers ``wanted`` (with a warning) if the files would still not do.

    Each connection may hold two descriptors (its socket and a blob file), and
    :data:`FD_RESERVE` plus :data:`REFUSING` are kept aside, so the server never runs
    out of descriptors and stops answering."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.debug("could not raise the open files limit to %d", target)
    affordable = max(1, (soft - FD_RESERVE - REFUSING) // 2)
    if affordable < wanted:
        log.warning(
            "http.max_connections lowered from %d to %d: this process may open %d files "
            "(raise it with ulimit -n)",
            wanted,
            affordable,
            soft,
        )
        return affordable
    return wanted


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request the limits refuse."""

    def __init__(self, error: ClientError) -> None:
        super().__init__(error.message)
        self.error = error


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with caps on heads and connections, a head deadline
    and a lingering close. Use :func:`http_protocol` to bind it to limits."""

    limits: ClassVar[ConnectionLimits]
    warnings: ClassVar[RateLimitedWarnings]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_keep_alive = self.limits.keep_alive  # type: ignore[assignment]
        self._head_open = False  # between a request's first byte and its headers' end
        self._message_open = False  # between a request's first byte and its body's end
        self._ended_in_chunk = False  # a request's body ended in the bytes being parsed
        self._head_bytes = 0  # exact: the request line and header lines parsed
        self._head_received = 0  # the bytes received while the head is not complete
        self._header_count = 0
        #: The first bytes of the request target being read: a refusal before routing
        #: answers in the form of the API it names (XML for S3 paths, JSON under /_/).
        self._target_start = b""
        # When the head being read must be complete; one timer per connection checks it
        # (re-armed only when it fires), not one per request.
        self._head_deadline: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._lingering = False
        self._refused = False
        self._socket: asyncio.Transport = None  # type: ignore[assignment]  # the real one

    # --- the connection --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        open_now = len(self.connections)
        self._socket = transport
        super().connection_made(LingeringTransport(transport, self))  # type: ignore[arg-type]
        cap = self.limits.max_connections
        if open_now >= cap + REFUSING:
            self._warn_cap()
            transport.abort()
        elif open_now >= cap:
            self._warn_cap()
            self._answer(SlowDown(f"the server is at its limit of {cap} connections"))
        else:
            self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._refused:
            return  # what the client still sends after its answer is dropped
        head_was_open = self._head_open
        self._ended_in_chunk = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _Refused):
                self._refuse(exc.__context__.error)
                return
            self._invalid_request()
            return
        except httptools.HttpParserUpgrade:
            self.warnings.warn("upgrade", "ignored a request to upgrade the connection")
            return
        except httptools.HttpParserError:
            self._invalid_request()
            return
        if self._head_open:
            # Bytes of a head that has not ended are bytes httptools holds. When a request
            # ended in this read, the part before the next head is unknown: count the
            # next read instead, so at most one read more than the cap is held.
            if head_was_open or not self._ended_in_chunk:
                self._head_received += len(data)
            if self._head_received > self.limits.max_header_bytes:
                self._refuse(self._head_too_large())

    def shutdown(self) -> None:
        """The server is stopping: an idle connection closes now, a busy one after its
        response. An idle TLS connection (no request begun, its last answer sent) is
        dropped without TLS's closing handshake, which would wait for a client that is
        not reading (a pooled keep-alive connection) until uvicorn's graceful timeout;
        the client opens a new one."""
        transport = self.transport
        idle = (self.cycle is None or self.cycle.response_complete) and not self._message_open
        flushed = transport.get_write_buffer_size() == 0  # the last answer has gone
        if idle and flushed and transport.get_extra_info("sslcontext") is not None:
            transport.abort()
            return
        super().shutdown()

    def close_connection(self) -> None:
        """Close as the server decides to (a response with ``Connection: close``, a
        failed app, an idle timeout): at once, or lingering if the request was not read
        to the end."""
        transport = self._socket
        if self._lingering or transport.is_closing():
            return
        if self._message_open or self._refused:
            self._linger()
        else:
            transport.close()

    def _linger(self) -> None:
        transport = self._socket
        self._lingering = True
        if self.limits.linger <= 0 or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()  # once what is written has gone: our FIN, reading goes on
        transport.resume_reading()
        self._linger_timer = self.loop.call_later(self.limits.linger, transport.close)

    # --- parser callbacks: the head's limits -----------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = self._message_open = True
        self._head_bytes = self._head_received = self._header_count = 0
        self._target_start = b""
        if self._head_deadline is None:
            self._start_head_clock()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if len(self._target_start) < len(JSON_API_PREFIX):
            self._target_start = (self._target_start + url)[: len(JSON_API_PREFIX)]
        if len(self.url) + len(url) > self.limits.max_url_bytes:
            raise _Refused(
                RequestURITooLong(
                    f"the request target is over {self.limits.max_url_bytes} bytes long"
                )
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_bytes += len(name) + len(value) + _LINE_OVERHEAD
        if self._header_count > self.limits.max_headers:
            raise _Refused(
                RequestHeaderSectionTooLarge(
                    f"the request has more than {self.limits.max_headers} header fields"
                )
            )
        if self._head_bytes > self.limits.max_header_bytes:
            raise _Refused(self._head_too_large())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._head_deadline = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._message_open = False
        self._ended_in_chunk = True
        super().on_message_complete()

    # --- refusals --------------------------------------------------------------------

    def _head_too_large(self) -> RequestHeaderSectionTooLarge:
        return RequestHeaderSectionTooLarge(
            f"the request head is over {self.limits.max_header_bytes} bytes"
        )

    def _start_head_clock(self) -> None:
        self._head_deadline = self.loop.time() + self.limits.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head)

    def _check_head(self) -> None:
        self._head_timer = None
        if self._head_deadline is None or self.transport.is_closing():
            return  # no head being read now
        if self.loop.time() < self._head_deadline:  # a later head than the timer's
            self._head_timer = self.loop.call_at(self._head_deadline, self._check_head)
            return
        self._head_late()

    def _head_late(self) -> None:
        self._head_deadline = None
        seconds = self.limits.header_timeout
        if not self._head_open:  # nothing sent since the connection opened: just close
            log.debug("%s sent no request within %g s", self._peer(), seconds)
            self.close_connection()
            return
        self._refuse(RequestHeaderTimeout(f"the request head took over {seconds:g} seconds"))

    def _refuse(self, error: ClientError) -> None:
        """Stop reading requests; answer ``error`` unless a response is being written,
        in which case the connection closes once it has gone."""
        self._refused = True
        self.warnings.warn(error.code, "refused a request from %s: %s", self._peer(), error.message)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return
        self._answer(error)

    def _invalid_request(self) -> None:
        self.warnings.warn("invalid", "Invalid HTTP request received.")
        self._refused = True
        self.send_400_response("Invalid HTTP request received.")

    def _answer(self, error: ChuteError) -> None:
        """Write ``error`` as the whole answer, then close (lingering)."""
        self._refused = True
        # S3 clients read the code from XML; what names no target yet (a connection over
        # the cap, a head that never got past its method) answers JSON.
        xml = bool(self._target_start) and not self._target_start.startswith(JSON_API_PREFIX)
        self.transport.write(error_response(error, self.server_state.default_headers, xml=xml))
        self.close_connection()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _warn_cap(self) -> None:
        self.warnings.warn(
            "cap",
            "connection limit of %d reached (http.max_connections): answering 503",
            self.limits.max_connections,
        )


class LingeringTransport:
    """The transport as uvicorn's protocol and request cycles see it: ``close()`` goes
    through :meth:`GuardedHttpProtocol.close_connection`; the rest is the real one's."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpProtocol) -> None:
        self.wrapped = transport
        self._protocol = protocol
        # Bound here, not looked up through __getattr__: every answer writes.
        self.write = transport.write
        self.get_extra_info = transport.get_extra_info

    def close(self) -> None:
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        # A lingering connection writes nothing more: no pipelined request may start.
        return self._protocol._lingering or self.wrapped.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def error_response(
    error: ChuteError, headers: Sequence[tuple[bytes, bytes]] = (), *, xml: bool = False
) -> bytes:
    """A whole HTTP/1.1 answer carrying ``error`` as JSON, or as S3's XML error document
    (``xml``), closing the connection; ``headers`` are the server's own (``date``,
    ``server``)."""
    if xml:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
            f"{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        ).encode()
        content_type = b"application/xml"
    else:
        body = json.dumps({"code": error.code, "message": error.message}).encode()
        content_type = b"application/json"
    lines = [
        STATUS_LINE[error.status],
        *(b"%s: %s\r\n" % pair for pair in headers),
        b"content-type: %s\r\n" % content_type,
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    if isinstance(error, ServiceUnavailable):
        lines.append(b"retry-after: %d\r\n" % error.retry_after)
    return b"".join([*lines, b"\r\n", body])
