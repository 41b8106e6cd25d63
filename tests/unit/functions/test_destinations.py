"""Invocation records as Lambda writes them for destinations, and the condition an
event too old to run ends with."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from chute.errors import Reject
from chute.functions.definitions import CodeSource, Function
from chute.functions.processor import InvokeOptions, invoke_function
from chute.pipelines.deliveries import NO_TRIGGER
from chute.pipelines.destinations import (
    EVENT_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    SUCCESS,
    invocation_record,
)
from chute.pipelines.functions import FunctionTarget
from chute.pipelines.model import Pipeline
from chute.processors.base import local_context
from chute.queue.records import Job
from chute.queue.states import JobState
from chute.settings import FunctionConfig

MOMENT = datetime(2026, 12, 4, 1, 2, 3, 456000, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
TARGET = FunctionTarget("f", Pipeline("function:f", NO_TRIGGER, {}, ""), "", ARN)


def _job(attempt: int) -> Job:
    payload = {"event": {"k": "v"}, "request_id": "req-1", "enqueued_at": 0.0}
    return Job(
        1, 1, "step", "function:f", "invoke", "", "", [], payload, JobState.DEAD, attempt, 3,
        MOMENT, None, None, None, MOMENT, MOMENT, MOMENT, None, None,
    )  # fmt: skip


def test_a_success_record_carries_the_response() -> None:
    record = invocation_record(TARGET, _job(1), SUCCESS, '{"ok": true}', MOMENT)
    assert record == {
        "version": "1.0",
        "timestamp": "2026-12-04T01:02:03.456Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": ARN + ":$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"k": "v"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"ok": True},
    }


def test_a_failure_record_names_the_error() -> None:
    error = '{"errorType": "ValueError", "errorMessage": "no"}'
    record = invocation_record(TARGET, _job(3), RETRIES_EXHAUSTED, error, MOMENT)
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {"errorType": "ValueError", "errorMessage": "no"}
    # A response cut short (or not JSON) is passed on as text.
    cut = invocation_record(TARGET, _job(3), RETRIES_EXHAUSTED, '{"errorType": "Val', MOMENT)
    assert cut["responsePayload"] == '{"errorType": "Val'


def test_an_event_never_run_has_no_response() -> None:
    record = invocation_record(TARGET, _job(0), EVENT_AGE_EXCEEDED, None, MOMENT)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert "responseContext" not in record
    assert "responsePayload" not in record


def test_an_event_too_old_is_rejected_with_its_condition() -> None:
    config = FunctionConfig(handler="app.handler", maximum_event_age_seconds=60)
    function = Function(name="f", arn=ARN, config=config, code=CodeSource(path="."), revision="r")
    ctx = local_context(b"", options=InvokeOptions(function=function))
    ctx.payload = {"event": {}, "request_id": "req-1", "enqueued_at": time.time() - 61}
    with pytest.raises(Reject, match="over MaximumEventAgeInSeconds"):
        invoke_function(ctx)
    assert ctx.report["condition"] == "EventAgeExceeded"
