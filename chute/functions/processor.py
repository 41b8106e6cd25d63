"""``function.invoke``: the step that runs a function on an event, for asynchronous
invocations (S3 notifications naming a function, ``InvocationType: Event``).

Queued like any step, so an event is invoked at least once, retried as Lambda retries
(``maximum_retry_attempts``, ``retry_delay_seconds``) and dropped to the dead letters
once it fails for good or grows older than ``maximum_event_age_seconds``. The worker
process installs its :class:`~chute.functions.service.Functions` (:func:`install`); the
environments stay warm between jobs. The job's payload is the event and the request id
every attempt of it gets, as Lambda keeps one request id across retries. Each attempt's
log goes back with its result, for the catalog's function logs (:mod:`.logs`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from chute.errors import Reject, Retry, TooManyRequests
from chute.functions.definitions import Function
from chute.functions.environment import InvocationResult
from chute.functions.logs import log_entry
from chute.functions.service import Functions
from chute.processors.base import Context
from chute.processors.registry import processor

FUNCTION_PROCESSOR = "function.invoke"
#: How much of the response and the log an attempt's report keeps...
REPORT_BYTES = 4 * 1024
#: ...and of the response when the function has destinations, whose records carry it
#: (an SQS message holds 256 KiB at most).
RECORDED_RESPONSE_BYTES = 256 * 1024
#: How long a throttled invocation waits before it is tried again.
THROTTLED_DELAY = 1.0

_installed: Functions | None = None


class InvokeOptions(BaseModel):
    """The function to invoke, whole: a worker needs nothing else to run it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    function: Function


class FunctionFailed(Exception):
    """The function answered with an error; the attempt fails (and may be retried)."""


def install(functions: Functions | None) -> None:
    """Give this process's function steps the functions they run."""
    global _installed
    _installed = functions


def installed() -> Functions:
    if _installed is None:
        raise RuntimeError("no functions are installed in this worker process")
    return _installed


def event_payload(
    event: Any, request_id: str, enqueued_at: float, chain: int = 1
) -> dict[str, Any]:
    """A function job's payload: what to invoke it with, as whom, since when, and (if
    a function's write triggered it) how deep in a chain of invocations."""
    payload = {"event": event, "request_id": request_id, "enqueued_at": enqueued_at}
    return {**payload, "chain": chain} if chain > 1 else payload


@processor(FUNCTION_PROCESSOR, options=InvokeOptions)
def invoke_function(ctx: Context) -> None:
    """Invoke the step's function on the job's event; fails with the function's error."""
    options: InvokeOptions = ctx.options
    function = options.function
    job = ctx.payload
    age = time.time() - float(job.get("enqueued_at", time.time()))
    limit = function.config.maximum_event_age_seconds
    if age > limit:
        ctx.report["condition"] = "EventAgeExceeded"  # as its destination's record says
        raise Reject(f"the event is {age:.0f} s old, over MaximumEventAgeInSeconds ({limit})")
    # Queued invocations carry their event; a pipeline's step gets S3's for its object.
    event = job.get("event", {"Records": [ctx.event]})
    payload = json.dumps(event).encode()
    try:
        chain = int(job.get("chain", 1))  # none: the first of its chain
        result = installed().run(function, payload, request_id=job.get("request_id"), chain=chain)
    except TooManyRequests as exc:
        raise Retry(THROTTLED_DELAY, f"throttled: {exc.message}") from None
    ctx.function_logs.append(log_entry(function.name, result))
    config = function.config
    recorded = config.on_success is not None or config.on_failure is not None
    ctx.report.update(_report(result, RECORDED_RESPONSE_BYTES if recorded else REPORT_BYTES))
    if recorded and len(result.payload) > RECORDED_RESPONSE_BYTES:
        ctx.report["response_truncated"] = True  # too big for its destination's record
    if result.failed:
        raise FunctionFailed(_error_of(result))


def _report(result: InvocationResult, response_bytes: int) -> dict[str, Any]:
    report: dict[str, Any] = {
        "request_id": result.request_id,
        "duration_ms": round(result.duration_ms, 2),
        "billed_ms": result.billed_ms,
        "max_memory_mb": result.max_memory_mb,
        "response": result.payload[:response_bytes].decode("utf-8", "replace"),
        "log": "\n".join(result.log)[-REPORT_BYTES:],
    }
    if result.init_ms is not None:
        report["init_ms"] = round(result.init_ms, 2)
    if result.error_type is not None:
        report["error_type"] = result.error_type
    return report


def _error_of(result: InvocationResult) -> str:
    try:
        document = json.loads(result.payload)
        return f"{document.get('errorType', result.error_type)}: {document.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        return f"{result.error_type}: {result.payload[:200]!r}"
