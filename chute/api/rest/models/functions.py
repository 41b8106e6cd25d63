"""Functions: their descriptions, an invocation asked for and how it ended, and pages of
their logs (each invocation's, in Lambda's ``START``/``END``/``REPORT`` form)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chute.api.rest.models.time import Timestamp

if TYPE_CHECKING:
    from chute.catalog import FunctionLogEntry
    from chute.functions.definitions import Function
    from chute.functions.environment import InvocationResult

#: Where a function is defined: chute.toml, or the Lambda API (CreateFunction).
Origin = Literal["config", "lambda-api"]
InvocationStatus = Literal["succeeded", "failed", "queued"]


class FunctionView(BaseModel):
    """A function: what runs, with which limits, and where it is defined."""

    name: str
    arn: str
    handler: str
    runtime: str
    description: str
    memory_mb: int
    timeout_seconds: float
    ephemeral_storage_mb: int
    reserved_concurrency: int | None = Field(description="None: as many as the pool allows.")
    defined_in: Origin
    revision: str
    last_modified: Timestamp | None = None
    layers: list[str] = Field(description="Layer version ARNs, in order.")
    environment: list[str] = Field(
        description="The names of its environment variables; their values, which may be "
        "secrets, only the Lambda API's GetFunctionConfiguration shows."
    )

    @classmethod
    def of(cls, function: Function) -> FunctionView:
        config = function.config
        return cls(
            name=function.name,
            arn=function.arn,
            handler=config.handler,
            runtime=config.runtime,
            description=config.description,
            memory_mb=config.memory_mb,
            timeout_seconds=config.timeout_seconds,
            ephemeral_storage_mb=config.ephemeral_storage_mb,
            reserved_concurrency=config.reserved_concurrency,
            defined_in="lambda-api" if function.managed else "config",
            revision=function.revision,
            last_modified=function.last_modified,
            layers=list(function.layer_arns),
            environment=sorted(config.environment),
        )


class FunctionList(BaseModel):
    """Every function, by name."""

    functions: list[FunctionView]


class InvokeRequest(BaseModel):
    """An invocation to make: the event, and whether to wait for its result."""

    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(default_factory=dict, description="The event the handler gets (JSON).")
    event: bool = Field(
        default=False,
        description="Queue it (Lambda's InvocationType Event): retried as the function's "
        "settings say, and answered at once with status queued.",
    )


class InvocationView(BaseModel):
    """How an invocation ended (or that it was queued)."""

    function: str
    request_id: str
    status: InvocationStatus
    error_type: str | None = Field(default=None, description="Lambda's errorType if it failed.")
    payload: Any = Field(default=None, description="What the handler answered (JSON).")
    duration_ms: float | None = None
    billed_ms: int | None = None
    max_memory_mb: int | None = None
    init_ms: float | None = Field(default=None, description="Set on a cold start.")
    log: str | None = Field(default=None, description="The invocation's log, as kept.")

    @classmethod
    def queued(cls, function: str, request_id: str) -> InvocationView:
        return cls(function=function, request_id=request_id, status="queued")

    @classmethod
    def of(cls, function: str, result: InvocationResult) -> InvocationView:
        return cls(
            function=function,
            request_id=result.request_id,
            status="failed" if result.failed else "succeeded",
            error_type=result.error_type,
            payload=_json(result.payload),
            duration_ms=round(result.duration_ms, 2),
            billed_ms=result.billed_ms,
            max_memory_mb=result.max_memory_mb,
            init_ms=None if result.init_ms is None else round(result.init_ms, 2),
            log="\n".join(result.log),
        )


class FunctionLogView(BaseModel):
    """One invocation's log; its ``id`` is the cursor to read on after it."""

    id: int
    function: str
    request_id: str
    log_stream: str
    timestamp: Timestamp = Field(description="When the invocation started.")
    text: str

    @classmethod
    def of(cls, entry: FunctionLogEntry) -> FunctionLogView:
        return cls(
            id=entry.id,
            function=entry.function,
            request_id=entry.request_id,
            log_stream=entry.log_stream,
            timestamp=entry.logged_at,
            text=entry.text,
        )


class FunctionLogPage(BaseModel):
    """Invocation logs oldest first; pass ``next_cursor`` as ``after`` to read on."""

    entries: list[FunctionLogView]
    next_cursor: int


def _json(payload: bytes) -> Any:
    """A handler's answer: JSON, as the runtime sends it (its text if it is not)."""
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
