"""Lambda's destinations: where the record of an asynchronous invocation goes once it
has ended.

A function's ``on_success`` and ``on_failure`` (chute.toml, or the Lambda API's
``DestinationConfig``) each name a standard SQS queue, an SNS topic (a webhook target
here) or a function by its ARN. When an invocation of the function's own pipeline
(``function:NAME``: S3 notifications and ``InvocationType: Event``) succeeds, or fails
for good, the recorder hands its job to :meth:`InvocationRecords.send`, which sends the
invocation record, in Lambda's format, in the same transaction: a message on the queue,
a delivery run of the webhook target, or an invocation of the other function. A failed
invocation stays in the dead letters as well, for a redrive.

A destination that is missing when the record is sent, or a record over the queue's
``MaximumMessageSize``, is logged and skipped, as Lambda counts it in its
``DestinationDeliveryFailures`` metric. A function destination is one deeper in the
chain of invocations (see :mod:`chute.functions.lineage`), so functions naming each
other cannot loop for ever.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chute.catalog import Catalog, CatalogSession
from chute.events import format_time
from chute.functions.lineage import MAX_CHAIN
from chute.pipelines.bucket_rules import DestinationKind, destination_of
from chute.pipelines.deliveries import Delivery
from chute.pipelines.functions import FUNCTION_PREFIX, INVOKE_STEP, FunctionTarget
from chute.queue.records import Job, Run, RunSource
from chute.sqs.service import enqueue

log = logging.getLogger(__name__)

#: ``requestContext.condition`` of each kind of ending.
SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
#: How the messages Lambda sends to queues are signed (``SenderId``).
LAMBDA_SENDER = "Lambda"
#: The event source of the runs a record starts (a delivery, an invocation).
RECORD_SOURCE = {"eventSource": "chute:destination"}


def invocation_record(
    target: FunctionTarget,
    job: Job,
    condition: str,
    response: str | None,
    moment: datetime,
) -> dict[str, Any]:
    """The record of ``job``'s invocation of ``target`` as Lambda writes it: the request
    (its id, the function, why it ended, attempts made, the event) and the response
    (the function's answer, or its error, when it answered)."""
    payload = job.payload
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": format_time(moment),
        "requestContext": {
            "requestId": payload.get("request_id", ""),
            "functionArn": f"{target.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": job.attempt,
        },
        "requestPayload": payload.get("event"),
    }
    if response is None:
        return record
    context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if condition != SUCCESS:
        # As the Invoke API's X-Amz-Function-Error says of Python handlers' errors.
        context["functionError"] = "Unhandled"
    record["responseContext"] = context
    try:
        parsed = json.loads(response, parse_constant=_no_constant) if response else None
    except (ValueError, RecursionError):  # not JSON: passed on as the text it is
        parsed = response
    record["responsePayload"] = parsed
    return record


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's parser takes them; databases do not)."""
    raise ValueError(f"{name} is not a JSON value")


class InvocationRecords:
    """Sends the records of ended invocations to their functions' destinations (see the
    module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        functions: Mapping[str, FunctionTarget],
        deliveries: Mapping[str, Delivery],
        on_jobs: Callable[[], None],
        on_message: Callable[[int], None],
    ) -> None:
        self.catalog = catalog
        self.functions = functions
        self.deliveries = deliveries
        #: Wakes this process's workers for the runs a record starts.
        self.on_jobs = on_jobs
        #: Wakes receives waiting on an SQS queue (by its row id).
        self.on_message = on_message

    def refusal(self, arn: str) -> str | None:
        """Why ``arn`` cannot be a destination (now), or ``None`` if it can."""
        found = destination_of(arn)
        if found is None:
            return "it names no SQS queue, SNS topic or Lambda function"
        kind, name = found
        if kind is DestinationKind.FUNCTION:
            return None if name in self.functions else f"no function named {name!r} exists"
        if kind is DestinationKind.TOPIC:
            if name in self.deliveries:
                return None
            return f"no webhook target named {name!r} is configured ([webhooks.{name}])"
        with self.catalog.read() as session:
            queue = session.messages.queue(name)
        if queue is None:
            return f"no SQS queue named {name!r} exists"
        return "a FIFO queue cannot be a destination" if queue.fifo else None

    def succeeded(
        self, session: CatalogSession, run_id: int, pipeline: str, moment: datetime
    ) -> None:
        """Send the record of the successful invocation that was run ``run_id`` of
        ``pipeline``, if that is a function's and the function has an ``on_success``
        destination."""
        target = self._target(pipeline)
        if target is None or target.on_success is None:
            return
        run = session.queue.get_run(run_id)
        assert run is not None
        (job,) = [job for job in session.queue.jobs_of_runs([run_id]) if job.step == INVOKE_STEP]
        attempts = session.queue.step_runs_of([job.id])
        report = attempts[-1].report if attempts else {}
        self._send(session, target, target.on_success, SUCCESS, report, job, run, moment)

    def failed(
        self,
        session: CatalogSession,
        run: Run,
        job: Job,
        report: Mapping[str, Any],
        moment: datetime,
    ) -> None:
        """Send the record of the invocation ``job`` made that failed for good (its last
        attempt's ``report``), if its function has an ``on_failure`` destination."""
        target = self._target(run.pipeline)
        if target is None or target.on_failure is None or job.step != INVOKE_STEP:
            return
        condition = report.get("condition", RETRIES_EXHAUSTED)
        self._send(session, target, target.on_failure, condition, report, job, run, moment)

    def _target(self, pipeline: str) -> FunctionTarget | None:
        if not pipeline.startswith(FUNCTION_PREFIX):
            return None
        return self.functions.get(pipeline.removeprefix(FUNCTION_PREFIX))

    def _send(
        self,
        session: CatalogSession,
        target: FunctionTarget,
        arn: str,
        condition: str,
        report: Mapping[str, Any],
        job: Job,
        run: Run,
        moment: datetime,
    ) -> None:
        """Send the record of ``job``'s invocation to ``arn``; a record that cannot be
        sent is logged and skipped, and never fails the recording of the invocation."""
        request = job.payload.get("request_id", job.id)
        if report.get("response_truncated"):
            log.warning(
                "the record of %s's invocation %s was not sent to %s: the response is over "
                "the 256 KiB a destination takes",
                target.function,
                request,
                arn,
            )
            return
        response = report.get("response")
        if condition == SUCCESS:
            response = response or ""
        record = invocation_record(target, job, condition, response, moment)
        try:
            with session.savepoint():
                sent = self._deliver(session, arn, record, job, run, moment)
        except Exception:
            log.warning(
                "sending the record of invocation %s to %s failed", request, arn, exc_info=True
            )
            sent = False
        if not sent:
            log.warning(
                "the record of %s's invocation %s could not be sent to %s",
                target.function,
                request,
                arn,
            )

    def _deliver(
        self,
        session: CatalogSession,
        arn: str,
        record: dict[str, Any],
        job: Job,
        run: Run,
        moment: datetime,
    ) -> bool:
        """Put ``record`` where ``arn`` names; whether there was such a place."""
        found = destination_of(arn)
        name = found[1] if found is not None else ""
        kind = found[0] if found is not None else None
        if kind is DestinationKind.QUEUE:
            queue_id = enqueue(session, name, json.dumps(record), moment, LAMBDA_SENDER)
            if queue_id is not None:
                self.on_message(queue_id)
            return queue_id is not None
        if kind is DestinationKind.TOPIC and name in self.deliveries:
            delivery = self.deliveries[name]
            source = RunSource(run.bucket, run.key, run.version_id, run.source_row, RECORD_SOURCE)
            jobs = delivery.jobs(record, f"destination/{job.id}/{job.attempt}")
            session.queue.create_run(delivery.pipeline.name, source, jobs, moment)
            self.on_jobs()
            return True
        if kind is DestinationKind.FUNCTION and name in self.functions:
            chain = int(job.payload.get("chain", 1)) + 1
            if chain > MAX_CHAIN:
                return False
            other = self.functions[name]
            jobs = other.jobs(record, chain=chain)
            source = RunSource("", "", "", None, RECORD_SOURCE)
            session.queue.create_run(other.pipeline.name, source, jobs, moment)
            self.on_jobs()
            return True
        return False
