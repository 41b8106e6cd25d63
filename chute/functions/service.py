"""The functions this Chute runs, and their warm execution environments.

:class:`Functions` is what the Lambda front end and the workers call: it knows each
function's definition (``[functions.NAME]`` in chute.toml), unpacks its code and layers
once, and keeps a few environments of each warm in this process. An invocation takes an
idle environment (a warm start) or starts one (a cold start), up to the function's
``reserved_concurrency``; past it the invocation is throttled, as Lambda throttles.
Where the catalog is at hand, each invocation's log is kept (:mod:`.logs`).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from chute.blobs import BlobStore
from chute.catalog import NewFunctionLog
from chute.clock import Clock, system_clock
from chute.errors import ResourceNotFound, TooManyRequests
from chute.functions.definitions import (
    CodeSource,
    ConfiguredFunctions,
    Function,
    FunctionSource,
    function_arn,
    name_of,
)
from chute.functions.environment import (
    INIT_SECONDS,
    Environment,
    FunctionSpec,
    InvocationResult,
)
from chute.functions.logs import log_entry
from chute.functions.package import blob_folder, code_folder
from chute.security.master_key import MasterKey
from chute.security.sessions import SessionIssuer

log = logging.getLogger(__name__)

#: How long an environment's session credentials last; an environment is retired
#: before they could expire under a running invocation.
CREDENTIALS_LIFETIME = timedelta(hours=12)

#: Variables an environment gets besides Lambda's own: the endpoint, credentials.
RuntimeVariables = Callable[[Function], Mapping[str, str]]
#: Where each invocation's log goes (:meth:`chute.functions.logs.FunctionLogs.keep`).
LogKeeper = Callable[[NewFunctionLog], None]


@dataclass(frozen=True, slots=True)
class FunctionsSetup:
    """What opening the functions takes, in any process (picklable, for workers)."""

    data_dir: Path
    region: str
    #: Where handlers reach Chute (``AWS_ENDPOINT_URL``).
    endpoint_url: str
    #: The key file that seals session credentials; ``None`` when requests are not
    #: signed (authentication off), so environments get no credentials.
    key_file: Path | None
    #: Folders environments must not see besides the data folder (a blob store's, the
    #: key file's), where the sandbox can hide them.
    private: tuple[Path, ...] = ()


def open_functions(
    setup: FunctionsSetup,
    source: FunctionSource | None = None,
    blobs: BlobStore | None = None,
    clock: Clock = system_clock,
    keep_log: LogKeeper | None = None,
) -> Functions:
    """The functions ``source`` knows (none: only those a caller hands over, as a
    worker's jobs do), their environments given the endpoint and (when requests are
    signed) session credentials with each function's grants. ``blobs`` holds the zips
    of functions made through the Lambda API; ``keep_log`` is given every invocation's
    log (a worker process has none: its steps return the logs with their results)."""
    sessions: list[SessionIssuer] = []  # the key file is read when first needed

    def variables(function: Function) -> dict[str, str]:
        found = {"AWS_ENDPOINT_URL": setup.endpoint_url}
        if setup.key_file is not None:
            if not sessions:
                sessions.append(SessionIssuer(MasterKey.load_or_create(setup.key_file), clock))
            label = f"function:{function.name}"
            issued = sessions[0].issue(function.grants, CREDENTIALS_LIFETIME, label)
            found.update(issued.environment())
        return found

    return Functions(
        source or ConfiguredFunctions({}, setup.region),
        data_dir=setup.data_dir,
        region=setup.region,
        blobs=blobs,
        runtime_variables=variables,
        private=setup.private,
        keep_log=keep_log,
        clock=clock,
    )


@dataclass
class _Warm:
    """One function's environments in this process, all of one revision."""

    revision: str = ""
    idle: list[Environment] = field(default_factory=list)
    busy: int = 0
    spec: FunctionSpec | None = None


class Functions:
    """The functions' warm environments; see the module docstring."""

    def __init__(
        self,
        source: FunctionSource,
        *,
        data_dir: Path,
        region: str,
        blobs: BlobStore | None = None,
        runtime_variables: RuntimeVariables | None = None,
        private: tuple[Path, ...] = (),
        keep_log: LogKeeper | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.source = source
        #: What environments must not see: the data folder and ``private``.
        self._hidden = (data_dir.resolve(), *(folder.resolve() for folder in private))
        self.region = region
        self._blobs = blobs
        self._root = data_dir / "functions"
        self._variables = runtime_variables
        self._keep_log = keep_log
        self._clock = clock
        self._lock = threading.Lock()
        self._warm: dict[str, _Warm] = {}
        self._closed = False
        self._warned_runtimes: set[str] = set()

    def list(self) -> list[Function]:
        """Every function, by name."""
        return self.source.functions()

    def get(self, name: str) -> Function:
        """The function called ``name`` (or given by its ARN); 404 if there is none."""
        found = self.source.function(name_of(name))
        if found is None:
            raise ResourceNotFound(f"Function not found: {function_arn(self.region, name)}")
        return found

    def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
    ) -> InvocationResult:
        """Run the function called ``name`` on ``payload``; see :meth:`run`."""
        return self.run(
            self.get(name), payload, request_id=request_id, client_context=client_context
        )

    def run(
        self,
        function: Function,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        chain: int = 1,
    ) -> InvocationResult:
        """Run ``function`` on ``payload`` (``chain`` deep in a chain of invocations) in
        a warm environment of its revision, or a new one; 429
        ``TooManyRequestsException`` when its concurrency is taken. Its log is kept once
        the environment is free again."""
        with self._environment(function) as environment:
            result = environment.invoke(
                payload, request_id=request_id, client_context=client_context, chain=chain
            )
        if self._keep_log is not None:
            self._keep_log(log_entry(function.name, result))
        return result

    def close(self) -> None:
        """Stop every idle environment; busy ones stop when their invocation ends."""
        with self._lock:
            self._closed = True
            idle = [env for warm in self._warm.values() for env in warm.idle]
            for warm in self._warm.values():
                warm.idle.clear()
        for environment in idle:
            environment.stop()

    @contextmanager
    def _environment(self, function: Function) -> Iterator[Environment]:
        retired: list[Environment] = []
        with self._lock:
            warm = self._warm.setdefault(function.name, _Warm())
            if warm.revision != function.revision:
                # Updated: environments of the old code stop once their invocation ends.
                retired, warm.idle = warm.idle, []
                warm.revision, warm.spec = function.revision, None
            if warm.busy >= function.concurrency:
                raise TooManyRequests(
                    "Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded"
                )
            warm.busy += 1
            environment = warm.idle.pop() if warm.idle else None
        for old in retired:
            old.stop()
        if environment is not None and environment.age > self._max_age(function):
            environment.stop()  # its credentials would run out: start afresh
            environment = None
        try:
            if environment is None:
                variables = self._variables
                environment = Environment(
                    self._spec(function, warm),
                    self._root / "scratch",
                    (lambda: variables(function)) if variables is not None else None,
                    hidden=self._hidden,
                    clock=self._clock,
                )
            yield environment
        except BaseException:
            with self._lock:
                warm.busy -= 1
            if environment is not None:
                environment.stop()
            raise
        with self._lock:
            warm.busy -= 1
            keep = not self._closed and environment.alive and warm.revision == function.revision
            if keep:
                warm.idle.append(environment)
        if not keep:
            environment.stop()

    @staticmethod
    def _max_age(function: Function) -> float:
        lifetime = CREDENTIALS_LIFETIME.total_seconds()
        return lifetime - function.config.timeout_seconds - INIT_SECONDS - 60

    def _spec(self, function: Function, warm: _Warm) -> FunctionSpec:
        """What an environment of ``function`` runs: its code and layers unpacked."""
        with self._lock:
            known = warm.spec if warm.revision == function.revision else None
        if known is not None:
            return known
        config = function.config
        self._warn_of_runtime(config.runtime)
        spec = FunctionSpec(
            name=function.name,
            handler=config.handler,
            task_root=self._folder(function.code),
            memory_mb=config.memory_mb,
            timeout_seconds=config.timeout_seconds,
            region=self.region,
            arn=function.arn,
            layers=tuple(self._folder(layer) for layer in function.layers),
            environment=config.environment,
            storage_mb=config.ephemeral_storage_mb,
        )
        with self._lock:
            if warm.revision == function.revision:
                warm.spec = spec
        return spec

    def _folder(self, source: CodeSource) -> Path:
        """The folder of ``source``'s files, unpacked into the code cache if need be."""
        cache = self._root / "code"
        if source.path is not None:
            return code_folder(Path(source.path), cache)
        if source.blob is None or self._blobs is None:
            raise ResourceNotFound("the function's code is not reachable from this process")
        return blob_folder(self._blobs, source.blob, source.sha256, cache)

    def _warn_of_runtime(self, runtime: str) -> None:
        have = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if runtime != have and runtime not in self._warned_runtimes:
            self._warned_runtimes.add(runtime)
            log.warning("functions of runtime %s run on %s, the Python Chute has", runtime, have)
