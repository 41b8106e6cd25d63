"""The functions this Chute runs, and their warm execution environments.

:class:`Functions` is what the Lambda front end and the workers call: it knows each
function's definition (``[functions.NAME]`` in chute.toml), unpacks its code and layers
once, and keeps a few environments of each warm in this process. An invocation takes an
idle environment (a warm start) or starts one (a cold start), up to the function's
``reserved_concurrency``; past it the invocation is throttled, as Lambda throttles.
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

from chute.access import Access, Grant
from chute.clock import Clock, system_clock
from chute.errors import ResourceNotFound, TooManyRequests
from chute.functions.environment import (
    INIT_SECONDS,
    Environment,
    FunctionSpec,
    InvocationResult,
)
from chute.functions.package import code_folder
from chute.security.master_key import MasterKey
from chute.security.sessions import SessionIssuer
from chute.settings import FunctionConfig

log = logging.getLogger(__name__)

#: The account id in the ARNs Chute gives functions: one Chute is one account.
ACCOUNT = "000000000000"
#: Environments one function may run at once in a process when it reserves none.
DEFAULT_CONCURRENCY = 10
#: How long an environment's session credentials last; an environment is retired
#: before they could expire under a running invocation.
CREDENTIALS_LIFETIME = timedelta(hours=12)

#: Variables an environment gets besides Lambda's own: the endpoint, credentials.
RuntimeVariables = Callable[["Function"], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Function:
    """A function as callers see it: its name, ARN and configuration."""

    name: str
    arn: str
    config: FunctionConfig

    @property
    def grants(self) -> list[Grant]:
        """What the function's credentials may reach (``permissions``)."""
        return [
            Grant(frozenset({Access(p.access)}), (p.bucket,), (p.prefix,))
            for p in self.config.permissions
        ]

    @property
    def concurrency(self) -> int:
        reserved = self.config.reserved_concurrency
        return DEFAULT_CONCURRENCY if reserved is None else reserved


@dataclass(frozen=True, slots=True)
class FunctionsSetup:
    """What opening the functions takes, in any process (picklable, for workers)."""

    definitions: dict[str, FunctionConfig]
    data_dir: Path
    region: str
    #: Where handlers reach Chute (``AWS_ENDPOINT_URL``).
    endpoint_url: str
    #: The key file that seals session credentials; ``None`` when requests are not
    #: signed (authentication off), so environments get no credentials.
    key_file: Path | None


def open_functions(setup: FunctionsSetup, clock: Clock = system_clock) -> Functions:
    """The functions of ``setup``, their environments given the endpoint and (when
    requests are signed) session credentials with each function's grants."""
    sessions = None
    if setup.key_file is not None:
        sessions = SessionIssuer(MasterKey.load_or_create(setup.key_file), clock)

    def variables(function: Function) -> dict[str, str]:
        found = {"AWS_ENDPOINT_URL": setup.endpoint_url}
        if sessions is not None:
            label = f"function:{function.name}"
            found.update(sessions.issue(function.grants, CREDENTIALS_LIFETIME, label).environment())
        return found

    return Functions(
        setup.definitions, data_dir=setup.data_dir, region=setup.region, runtime_variables=variables
    )


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


@dataclass
class _Warm:
    """One function's environments in this process."""

    idle: list[Environment] = field(default_factory=list)
    busy: int = 0
    spec: FunctionSpec | None = None


class Functions:
    """Definitions and warm environments of the functions; see the module docstring."""

    def __init__(
        self,
        definitions: Mapping[str, FunctionConfig],
        *,
        data_dir: Path,
        region: str,
        runtime_variables: RuntimeVariables | None = None,
    ) -> None:
        self.region = region
        self._functions = {
            name: Function(name, function_arn(region, name), config)
            for name, config in sorted(definitions.items())
        }
        self._root = data_dir / "functions"
        self._variables = runtime_variables
        self._lock = threading.Lock()
        self._warm: dict[str, _Warm] = {name: _Warm() for name in self._functions}
        self._closed = False
        self._warned_runtimes: set[str] = set()

    def list(self) -> list[Function]:
        """Every function, by name."""
        return list(self._functions.values())

    def get(self, name: str) -> Function:
        """The function called ``name`` (or given by its ARN); 404 if there is none."""
        found = self._functions.get(_name_of(name))
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
        """Run the function on ``payload`` in a warm environment, or a new one; 429
        ``TooManyRequestsException`` when its concurrency is taken."""
        function = self.get(name)
        with self._environment(function) as environment:
            return environment.invoke(payload, request_id=request_id, client_context=client_context)

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
        with self._lock:
            warm = self._warm[function.name]
            if warm.busy >= function.concurrency:
                raise TooManyRequests(
                    "Rate Exceeded.", reason="ReservedFunctionConcurrentInvocationLimitExceeded"
                )
            warm.busy += 1
            environment = warm.idle.pop() if warm.idle else None
        if environment is not None and environment.age > self._max_age(function):
            environment.stop()  # its credentials would run out: start afresh
            environment = None
        try:
            if environment is None:
                variables = self._variables
                environment = Environment(
                    self._spec(function),
                    self._root / "scratch",
                    (lambda: variables(function)) if variables is not None else None,
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
            keep = not self._closed and environment.alive
            if keep:
                warm.idle.append(environment)
        if not keep:
            environment.stop()

    @staticmethod
    def _max_age(function: Function) -> float:
        lifetime = CREDENTIALS_LIFETIME.total_seconds()
        return lifetime - function.config.timeout_seconds - INIT_SECONDS - 60

    def _spec(self, function: Function) -> FunctionSpec:
        """What an environment of ``function`` runs: its code and layers unpacked."""
        with self._lock:
            known = self._warm[function.name].spec
        if known is not None:
            return known
        config = function.config
        self._warn_of_runtime(config.runtime)
        cache = self._root / "code"
        spec = FunctionSpec(
            name=function.name,
            handler=config.handler,
            task_root=code_folder(config.code, cache),
            memory_mb=config.memory_mb,
            timeout_seconds=config.timeout_seconds,
            region=self.region,
            arn=function.arn,
            layers=tuple(code_folder(layer, cache) for layer in config.layers),
            environment=config.environment,
            storage_mb=config.ephemeral_storage_mb,
        )
        with self._lock:
            self._warm[function.name].spec = spec
        return spec

    def _warn_of_runtime(self, runtime: str) -> None:
        have = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if runtime != have and runtime not in self._warned_runtimes:
            self._warned_runtimes.add(runtime)
            log.warning("functions of runtime %s run on %s, the Python Chute has", runtime, have)


def _name_of(name_or_arn: str) -> str:
    """A function's name from its name, its ARN or a partial ARN (``ACCOUNT:function:NAME``),
    with any version or alias (``:$LATEST``) dropped."""
    if ":function:" in name_or_arn:
        name_or_arn = name_or_arn.split(":function:", 1)[1]
    return name_or_arn.split(":", 1)[0]
