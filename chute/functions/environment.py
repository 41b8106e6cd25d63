"""One execution environment of a function, as Lambda runs them.

The environment is a process of its own running AWS's runtime client
(``python -m awslambdaric HANDLER``) against a :class:`~chute.functions.runtime_api.
RuntimeApi` served for it alone. The handler's module is imported once, at the cold
start, and the environment serves invocations one at a time until it is stopped, or
killed: past the function's timeout, past its memory size, or when the runtime dies.
Each invocation's log is Lambda's: ``START``, what the handler wrote, ``END`` and a
``REPORT`` with durations and memory, captured within bounds (:mod:`.capture`).
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chute.clock import Clock, system_clock
from chute.functions import sandbox
from chute.functions.capture import LogCapture
from chute.functions.lineage import trace_header
from chute.functions.runtime_api import Answer, Invocation, RuntimeApi

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Lambda's limit on the init phase (importing the handler's module).
INIT_SECONDS = 10.0
#: How often a running invocation's memory, deadline and output are checked.
POLL_SECONDS = 0.01
#: What the function version is called until versions exist.
LATEST = "$LATEST"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """What an environment needs to know of its function (code already unpacked)."""

    name: str
    handler: str
    task_root: Path
    memory_mb: int
    timeout_seconds: float
    region: str
    arn: str
    #: Unpacked layers, in the order given: later ones take precedence.
    layers: tuple[Path, ...] = ()
    #: The size of ``/tmp``, in MB.
    storage_mb: int = 512
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """How one invocation ended, with its log lines (``START`` to ``REPORT``)."""

    request_id: str
    payload: bytes
    #: Lambda's ``errorType`` when the function failed; ``None`` on success.
    error_type: str | None
    #: The log, bounded (:class:`~chute.functions.capture.LogCapture`).
    log: list[str]
    duration_ms: float
    max_memory_mb: int
    #: Milliseconds the cold start took, for the invocation that started the environment.
    init_ms: float | None = None
    #: The environment's log stream (``AWS_LAMBDA_LOG_STREAM_NAME``).
    log_stream: str = ""
    #: When the invocation started, by the environment's clock.
    started_at: datetime = field(default_factory=system_clock)

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))


class Environment:
    """One warm (or not yet started) execution environment of a function."""

    def __init__(
        self,
        spec: FunctionSpec,
        scratch_root: Path,
        variables: Callable[[], Mapping[str, str]] | None = None,
        *,
        hidden: tuple[Path, ...] = (),
        clock: Clock = system_clock,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._scratch_root = scratch_root
        #: Folders the runtime must not see (Chute's data), where the sandbox hides them.
        self._hidden = hidden
        #: Variables added at each start (the endpoint, fresh short-lived credentials).
        self._variables = variables
        self._api: RuntimeApi | None = None
        self._process: sandbox.Sandboxed | None = None
        self._scratch: Path | None = None
        self._stream = ""
        self._decoder = _utf8()
        self._log = LogCapture()
        self._peak_bytes = 0
        #: Invocations served, the cold one included.
        self.invocations = 0
        self._started = time.monotonic()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def age(self) -> float:
        """Seconds since the environment last started."""
        return time.monotonic() - self._started

    @property
    def log_stream(self) -> str:
        return self._stream

    def invoke(
        self,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        identity: str | None = None,
        chain: int = 1,
    ) -> InvocationResult:
        """Run the handler on ``payload`` (the ``chain``-th invocation of a chain of
        requests, see :mod:`chute.functions.lineage`); starts the environment first if it
        is cold.
        The environment is killed (and cold again) after a timeout, a memory kill or a
        runtime that died."""
        request_id = request_id or str(uuid.uuid4())
        began = time.monotonic()
        began_at = self._clock()
        self._log = LogCapture()
        init_ms: float | None = None
        if not self.alive:
            failure = self._start()
            init_ms = (time.monotonic() - began) * 1000
            if failure is not None:
                return self._finish(request_id, began, began_at, failure, init_ms)
        assert self._api is not None
        deadline = time.time() + self.spec.timeout_seconds
        self._log.append(f"START RequestId: {request_id} Version: {LATEST}")
        started = time.monotonic()
        self._api.submit(
            Invocation(
                request_id=request_id,
                payload=payload,
                function_arn=self.spec.arn,
                deadline_ms=int(deadline * 1000),
                trace_id=trace_header(self.spec.name, chain),
                client_context=client_context,
                cognito_identity=identity,
            )
        )
        answer = self._await(request_id, started)
        self.invocations += 1
        return self._finish(request_id, started, began_at, answer, init_ms)

    def stop(self) -> None:
        """Kill the environment's processes and remove its scratch folder."""
        if self._process is not None:
            self._process.kill()
            self._drain_output()
            self._process.stdout.close()
            self._process = None
        if self._api is not None:
            self._api.close()
            self._api = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # --- starting -----------------------------------------------------------------

    def _start(self) -> Answer | None:
        """Start the runtime and wait for it to import the handler's module; the
        error to answer with if it could not."""
        self.stop()
        self._scratch_root.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix=f"{self.spec.name}-", dir=self._scratch_root))
        self._api = RuntimeApi()
        now = self._clock()
        self._stream = f"{now:%Y/%m/%d}/[{LATEST}]{uuid.uuid4().hex}"
        self._peak_bytes = 0
        self.invocations = 0
        self._started = time.monotonic()
        self._process = sandbox.start(
            [sys.executable, "-m", "awslambdaric", self.spec.handler],
            scratch=self._scratch,
            cwd=self.spec.task_root,
            env=self._environment(self._api.address),
            visible=[self.spec.task_root, *self.spec.layers, Path(sys.prefix)],
            hidden=self._hidden,
            storage_mb=self.spec.storage_mb,
        )
        self._api.admit(self._process.pid)
        until = time.monotonic() + INIT_SECONDS
        while not self._api.wait_ready(POLL_SECONDS):
            self._pump_output(0)
            if not self.alive:
                self._drain_output()
                return self._init_error() or _exited(self._process)
            if time.monotonic() > until:
                self.stop()
                return _error("Runtime.InitTimeout", f"init took over {INIT_SECONDS:g} seconds")
        self._drain_output()  # what the import printed comes before START
        failed = self._api.init_error
        if failed is not None:
            self.stop()
            return failed
        return None

    def _init_error(self) -> Answer | None:
        return self._api.init_error if self._api is not None else None

    def _environment(self, runtime_api: str) -> dict[str, str]:
        """The variables Lambda sets, with the function's own and the caller's."""
        spec = self.spec
        layers = list(reversed(spec.layers))  # later layers over earlier ones
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        python_path = [str(spec.task_root)]
        for layer in layers:
            python_path += [str(layer / "python" / "lib" / version / "site-packages")]
            python_path += [str(layer / "python")]
        path = [str(layer / "bin") for layer in layers] + [str(Path(sys.executable).parent)]
        path += ["/usr/local/bin", "/usr/bin", "/bin"]
        libraries = [str(layer / "lib") for layer in layers]
        reserved = {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{version}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self._stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": str(spec.task_root),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": ":".join(path),
            "PYTHONPATH": ":".join(python_path),
            "TMPDIR": "/tmp" if sandbox.isolated() else str(self._scratch),
            "LAMBDA_DISABLE_PREVIEW_WARN": "1",
        }
        if libraries:
            reserved["LD_LIBRARY_PATH"] = ":".join(libraries)
        added = self._variables() if self._variables is not None else {}
        return {**spec.environment, **added, **reserved}

    # --- running --------------------------------------------------------------------

    def _await(self, request_id: str, started: float) -> Answer:
        """Wait for the runtime's answer, killing the environment past the timeout or
        the memory size, or when the runtime died."""
        assert self._api is not None
        assert self._process is not None
        limit = self.spec.memory_mb * MiB
        timeout = self.spec.timeout_seconds
        while True:
            answer = self._api.wait(POLL_SECONDS)
            if answer is not None:
                self._measure()
                self._drain_output()
                if answer.init_error:  # the runtime could not even load
                    self.stop()
                return answer
            self._pump_output(0)
            used = self._measure()
            elapsed = time.monotonic() - started
            if not self.alive:
                self._drain_output()
                return _runtime_died(request_id, self._process)
            if used > limit:
                self.stop()
                message = (
                    f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
                )
                return _error("Runtime.OutOfMemory", message)
            if elapsed > timeout:
                self.stop()
                self._log.append(
                    f"{_now()} {request_id} Task timed out after {elapsed:.2f} seconds"
                )
                message = (
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                )
                return _error("Sandbox.Timedout", message)

    def _measure(self) -> int:
        used = sandbox.tree_rss_bytes(self._process.pid) if self._process is not None else 0
        self._peak_bytes = max(self._peak_bytes, used)
        return used

    def _finish(
        self,
        request_id: str,
        started: float,
        started_at: datetime,
        answer: Answer,
        init_ms: float | None,
    ) -> InvocationResult:
        duration = (time.monotonic() - started) * 1000
        memory = min(math.ceil(self._peak_bytes / MiB), self.spec.memory_mb)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(duration))} ms\t"
            f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {memory} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        self._log.extend([f"END RequestId: {request_id}", report])
        return InvocationResult(
            request_id,
            answer.payload,
            answer.error_type,
            self._log.lines(),
            duration,
            memory,
            init_ms,
            log_stream=self._stream,
            started_at=started_at,
        )

    # --- output -----------------------------------------------------------------------

    def _pump_output(self, timeout: float) -> bool:
        """Read what the runtime wrote, up to ``timeout`` seconds; whether it wrote."""
        if self._process is None or self._process.stdout.closed:
            return False
        stream = self._process.stdout
        readable, _, _ = select.select([stream], [], [], timeout)
        if not readable:
            return False
        data = os.read(stream.fileno(), 64 * 1024)
        if not data:
            return False
        self._log.write(self._decoder.decode(data))
        return True

    def _drain_output(self) -> None:
        """Read all the runtime has written. Its output is unbuffered and written before
        it answers, so an answered invocation's lines are all in the pipe already."""
        while self._pump_output(0):
            pass
        self._log.write(self._decoder.decode(b"", final=True))
        self._log.flush()


def _utf8() -> codecs.IncrementalDecoder:
    """A decoder of the runtime's output: a character split between two reads is
    decoded whole."""
    return codecs.getincrementaldecoder("utf-8")("replace")


def _error(error_type: str, message: str) -> Answer:
    document = {"errorType": error_type, "errorMessage": message}
    return Answer(json.dumps(document).encode(), error_type)


def _exited(process: sandbox.Sandboxed | None) -> Answer:
    code = process.poll() if process is not None else None
    return _error("Runtime.ExitError", f"Error: Runtime exited with error: {_status(code)}")


def _runtime_died(request_id: str, process: sandbox.Sandboxed) -> Answer:
    status = _status(process.poll())
    return _error(
        "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {status}"
    )


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal: {_signal_name(-code)}"
    return f"exit status {code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
