"""Lambda's Runtime API, served to one execution environment on loopback.

AWS's own runtime client (``awslambdaric``) runs in the environment: it asks
``GET /2018-06-01/runtime/invocation/next`` for an event, calls the handler with
Lambda's context object and answers ``.../response`` or ``.../error``; an import that
fails answers ``/2018-06-01/runtime/init/error``. This module is the other side: it
hands out one :class:`Invocation` at a time and passes back what the runtime answered.
The wire format is AWS's (docs: "Using the Lambda runtime API for custom runtimes").

The port is on loopback, where any local process could find it: a connection is
served only if the environment's own processes hold its other end.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chute.functions import sandbox

log = logging.getLogger(__name__)

PREFIX = "/2018-06-01/runtime"
#: How soon the server notices it is told to stop.
SHUTDOWN_POLL_SECONDS = 0.05
#: Largest response a synchronous invocation may return (Lambda: 6 MB).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
#: How long a connection waits for the environment's process to be known.
OWNER_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Invocation:
    """One event for the handler, with what Lambda tells the runtime about it."""

    request_id: str
    payload: bytes
    function_arn: str
    #: When the invocation times out, in milliseconds since the epoch.
    deadline_ms: int
    trace_id: str = ""
    client_context: str | None = None
    cognito_identity: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the runtime answered: the handler's result, or an error document."""

    payload: bytes
    #: Lambda's ``errorType`` when the handler failed (or could not load); else ``None``.
    error_type: str | None = None
    #: The runtime failed before its first invocation (``/init/error``).
    init_error: bool = False


@dataclass
class _Pending:
    invocation: Invocation
    answered: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None


class RuntimeApi:
    """The Runtime API of one environment: :meth:`submit` an invocation, then
    :meth:`wait` for the runtime's answer. ``address`` is what the environment's
    ``AWS_LAMBDA_RUNTIME_API`` says."""

    def __init__(self) -> None:
        #: The environment's first process, once started: only it and its descendants
        #: may use this API (see :meth:`admit`).
        self._owner: int | None = None
        self._owner_known = threading.Event()
        self._events: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._current: _Pending | None = None
        self._ready = threading.Event()
        self._init_error: Answer | None = None
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.api = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name="lambda-runtime-api",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def admit(self, pid: int) -> None:
        """Serve only ``pid`` (the environment's process) and its descendants: any
        other local process that finds the port (another function's environment) is
        turned away, so it can neither take invocations nor answer them."""
        self._owner = pid
        self._owner_known.set()

    def _admits(self, client_address: Any) -> bool:
        if not self._owner_known.wait(OWNER_WAIT_SECONDS) or self._owner is None:
            return False
        port = int(self._server.server_address[1])
        if sandbox.connected_from_tree(self._owner, int(client_address[1]), port):
            return True
        log.warning("refused a runtime API connection from a process not of its environment")
        return False

    def wait_ready(self, timeout: float) -> bool:
        """Whether the runtime asked for its first event (the handler's module imported)
        or reported an init error within ``timeout`` seconds."""
        return self._ready.wait(timeout)

    @property
    def init_error(self) -> Answer | None:
        return self._init_error

    def submit(self, invocation: Invocation) -> None:
        """Queue ``invocation`` for the runtime's next ``/next``."""
        pending = _Pending(invocation)
        with self._lock:
            self._current = pending
        self._events.put(pending)

    def wait(self, timeout: float) -> Answer | None:
        """The answer to the submitted invocation, or ``None`` if none came in time."""
        with self._lock:
            pending = self._current
        if pending is None or not pending.answered.wait(timeout):
            return None
        return pending.answer

    def close(self) -> None:
        """Stop serving; a runtime waiting in ``/next`` gets no event."""
        self._events.put(None)
        self._server.shutdown()
        self._server.server_close()

    # --- the runtime's side -------------------------------------------------------

    def _next(self) -> _Pending | None:
        self._ready.set()
        return self._events.get()

    def _answer(self, request_id: str, answer: Answer) -> bool:
        with self._lock:
            pending = self._current
            if pending is None or pending.invocation.request_id != request_id:
                return False
            if pending.answered.is_set():
                return False  # one answer per invocation, as Lambda enforces
            pending.answer = answer
            pending.answered.set()
            return True

    def _fail_init(self, answer: Answer) -> None:
        self._init_error = answer
        self._ready.set()
        with self._lock:
            pending = self._current
        if pending is not None and not pending.answered.is_set():
            pending.answer = answer
            pending.answered.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: RuntimeApi

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.api._admits(client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed environment drops its connection mid-request: nothing to report.
        log.debug("runtime API connection from %s failed", client_address, exc_info=True)


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without this, Nagle's algorithm and delayed
        # ACKs hold the body back for tens of milliseconds.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the runtime's requests are not worth a log line each

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(HTTPStatus.NOT_FOUND, {"errorType": "InvalidRequest"})
                return
            pending = api._next()
            if pending is None:
                self._reply(HTTPStatus.GONE, {"errorType": "EnvironmentStopped"})
                return
            event = pending.invocation
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(event.payload)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", event.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(event.deadline_ms))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", event.function_arn)
            if event.trace_id:
                self.send_header("Lambda-Runtime-Trace-Id", event.trace_id)
            if event.client_context is not None:
                self.send_header("Lambda-Runtime-Client-Context", event.client_context)
            if event.cognito_identity is not None:
                self.send_header("Lambda-Runtime-Cognito-Identity", event.cognito_identity)
            self.end_headers()
            self.wfile.write(event.payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_RESPONSE_BYTES:
                self.rfile.read(length)  # keep the connection usable, then refuse
                self._answer_oversized()
                return
            body = self.rfile.read(length)
            path = self.path.removeprefix(PREFIX)
            if path == "/init/error":
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                api._fail_init(Answer(body, error_type or "Runtime.Unknown", init_error=True))
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
                return
            parts = path.split("/")
            if len(parts) != 4 or parts[1] != "invocation" or parts[3] not in ERRORS_OR_RESULT:
                self._reply(HTTPStatus.NOT_FOUND, {"errorType": "InvalidRequest"})
                return
            request_id, kind = parts[2], parts[3]
            if kind == "response":
                answer = Answer(body)
            else:
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                answer = Answer(body, error_type or _error_type(body))
            if not api._answer(request_id, answer):
                self._reply(HTTPStatus.BAD_REQUEST, {"errorType": "InvalidRequestID"})
                return
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})

        def _answer_oversized(self) -> None:
            parts = self.path.removeprefix(PREFIX).split("/")
            if len(parts) == 4 and parts[3] == "response":
                message = (
                    "Response payload size exceeded maximum allowed payload size "
                    f"({MAX_RESPONSE_BYTES} bytes)."
                )
                error = {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
                api._answer(parts[2], Answer(json.dumps(error).encode(), error["errorType"]))
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"errorType": "RequestEntityTooLarge"})

        def _reply(self, status: HTTPStatus, document: dict[str, str]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


ERRORS_OR_RESULT = frozenset({"response", "error"})


def _error_type(body: bytes) -> str:
    """The ``errorType`` of an error document, when no header named it."""
    try:
        document = json.loads(body)
    except ValueError:
        return "Unhandled"
    found = document.get("errorType") if isinstance(document, dict) else None
    return found if isinstance(found, str) and found else "Unhandled"
