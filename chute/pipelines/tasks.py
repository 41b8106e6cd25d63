"""Queue steps: work done by an SQS queue's consumers, on other processes or machines,
as Step Functions' ``sqs:sendMessage.waitForTaskToken`` task hands work to them.

A step with ``queue = "NAME"`` is claimed like any other, but no worker runs it: in the
claim's transaction the broker (:meth:`QueueTasks.hand_over`) sends the queue a
message, ``{"Records": [the run's S3 event record], "taskToken": TOKEN}``, and passes
the job to the queue (its holder becomes ``sqs:NAME``), leased until the step's
``timeout_seconds`` (or its ``heartbeat_seconds``) run out. A consumer receives the
message, does the work (reading and writing objects through the S3 API with keys of
its own) and answers with the token through the Step Functions API:

* ``SendTaskSuccess(taskToken, output)``: the attempt succeeded; ``output`` (a JSON
  document) is the step's metadata, which later steps' ``when`` conditions read;
* ``SendTaskFailure(taskToken, error, cause)``: the attempt failed, and is retried
  (a new message, with a new token) or dead as the step's ``retry`` says;
* ``SendTaskHeartbeat(taskToken)``: still working; the lease is renewed by
  ``heartbeat_seconds``, up to the step's timeout.

An attempt nobody answers in time fails as timed out when the lease is reaped, as any
attempt whose worker stops renewing. A token names its job, attempt and claim, with a
random part the job keeps: it is good for the one attempt it was sent for, and for
whoever may receive the queue's messages. Answers are recorded as workers' results are
(:class:`~chute.pipelines.recorder.Recorder`), so a late answer to an attempt that
timed out is refused, never recorded twice.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chute.access import Access
from chute.blobs import BlobRecord
from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import AccessDenied, ChuteError
from chute.hooks import JobChange
from chute.jobs import Result
from chute.pipelines.model import Step
from chute.pipelines.recorder import Recorder
from chute.queue.records import ClaimSource, Job, JobRef
from chute.queue.states import JobState, Outcome
from chute.sqs.service import enqueue

#: Holders of jobs handed to a queue: this and the queue's name.
HOLDER_PREFIX = "sqs:"
#: The version of the tokens this module makes.
TOKEN_VERSION = "chute1"
#: The payload keys of the random part of the current attempt's token, and its queue.
TOKEN_KEY = "task_token"
QUEUE_KEY = "task_queue"
#: A token: the version, job id, attempt, claim and random part.
_TOKEN = re.compile(
    re.escape(TOKEN_VERSION) + r"\.([0-9]{1,18})\.([0-9]{1,9})\.([0-9]{1,9})\.([A-Za-z0-9_-]{1,64})"
)
#: Limits of Step Functions: a task's output, a failure's error and cause.
MAX_OUTPUT_BYTES = 256 * 1024
MAX_ERROR_CHARS, MAX_CAUSE_CHARS = 256, 32768
#: Why a task's answer came too late for its run.
GONE = "its object was overwritten or deleted while the task was out"
#: The ``SenderId`` of the messages queue steps send.
TASK_SENDER = "Chute"


class TaskError(ChuteError):
    """A parameter Step Functions would not take."""

    code = "ValidationException"
    status = 400


class InvalidToken(TaskError):
    """The task token is not one Chute made."""

    code = "InvalidToken"


class TaskDoesNotExist(TaskError):
    """No task waits for this token: it was answered already."""

    code = "TaskDoesNotExist"


class TaskTimedOut(TaskError):
    """The task timed out (or its run ended) before this answer."""

    code = "TaskTimedOut"


class InvalidOutput(TaskError):
    """The output is not a JSON document Step Functions would take."""

    code = "InvalidOutput"


@dataclass(frozen=True, slots=True)
class Token:
    """What a task token names: a job, the attempt and claim it was sent for, and the
    random part that job keeps."""

    job_id: int
    attempt: int
    claim: int
    secret: str

    def __str__(self) -> str:
        return f"{TOKEN_VERSION}.{self.job_id}.{self.attempt}.{self.claim}.{self.secret}"

    @classmethod
    def parse(cls, text: object) -> Token:
        if not isinstance(text, str) or not 1 <= len(text) <= 1024:
            raise InvalidToken("taskToken must be 1 to 1024 characters")
        found = _TOKEN.fullmatch(text)
        if found is None:
            raise InvalidToken("Invalid Token: this is not a task token Chute sent")
        return cls(int(found[1]), int(found[2]), int(found[3]), found[4])


class QueueTasks:
    """Hands queue steps' jobs to their queues and records their consumers' answers
    (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        recorder: Recorder,
        clock: Clock,
        on_message: Callable[[int], None],
    ) -> None:
        self.catalog = catalog
        self.recorder = recorder
        self.clock = clock
        #: Wakes receives waiting on an SQS queue (by its row id).
        self.on_message = on_message

    # --- the broker's side ---------------------------------------------------------------

    def hand_over(
        self,
        session: CatalogSession,
        job: JobRef,
        step: Step,
        source: ClaimSource,
        worker: str,
    ) -> str | None:
        """Send the task of ``job`` (claimed by ``worker`` in this transaction) to its
        step's queue and pass the job to it; ``None``, or why it cannot be sent."""
        assert step.queue is not None
        queue = session.messages.queue(step.queue)
        if queue is None:
            return f"no SQS queue named {step.queue!r} exists for step {step.name!r}"
        if queue.fifo:
            return f"SQS queue {step.queue!r} is a FIFO queue, which cannot take tasks"
        moment = self.clock()
        token = Token(job.id, job.attempt, job.claim, secrets.token_urlsafe(24))
        body = json.dumps({"Records": [json.loads(source.event_json)], "taskToken": str(token)})
        queue_id = enqueue(session, step.queue, body, moment, TASK_SENDER)
        if queue_id is None:
            return f"the task is over SQS queue {step.queue!r}'s MaximumMessageSize"
        until = moment + timedelta(seconds=_lease_seconds(step))
        payload = {**job.payload, TOKEN_KEY: token.secret, QUEUE_KEY: step.queue}
        session.queue.hand_over(job.id, worker, HOLDER_PREFIX + step.queue, until, moment, payload)
        self.on_message(queue_id)
        return None

    # --- the consumers' side -------------------------------------------------------------

    def succeed(self, context: RequestContext, token: object, output: object) -> None:
        """SendTaskSuccess: the attempt succeeded with ``output`` (JSON text)."""
        document = _output(output)
        metadata = document if isinstance(document, dict) else {"output": document}
        self._answer(context, Token.parse(token), Outcome.SUCCEEDED, metadata=metadata)

    def fail(self, context: RequestContext, token: object, error: object, cause: object) -> None:
        """SendTaskFailure: the attempt failed with ``error`` and ``cause``."""
        parts = (_text("error", error, MAX_ERROR_CHARS), _text("cause", cause, MAX_CAUSE_CHARS))
        told = ": ".join(part for part in parts if part)
        self._answer(context, Token.parse(token), Outcome.FAILED, told=told or "?")

    def heartbeat(self, context: RequestContext, token: object) -> None:
        """SendTaskHeartbeat: the consumer is still at it; renew the lease (up to the
        step's timeout)."""
        parsed = Token.parse(token)

        def work(session: CatalogSession) -> None:
            moment = self.clock()
            job = self._waiting(session, context, parsed, moment)
            pipeline = self.recorder.pipelines.get(job.pipeline)
            step = pipeline.steps.get(job.step) if pipeline is not None else None
            if step is None:
                raise TaskDoesNotExist(f"step {job.step!r} of {job.pipeline!r} is not configured")
            deadline = (job.started_at or moment) + timedelta(seconds=step.timeout_seconds)
            until = min(moment + timedelta(seconds=_lease_seconds(step)), deadline)
            session.queue.extend_leases(job.worker or "", [job.id], until)

        self.catalog.run_write(work)

    def _answer(
        self,
        context: RequestContext,
        token: Token,
        outcome: Outcome,
        *,
        metadata: dict[str, Any] | None = None,
        told: str = "",
    ) -> None:
        """Record the answer to the attempt ``token`` names, in the transaction that
        finds it still waiting (its job row locked), so that of two answers one wins
        and the other is told why it lost."""
        changes: list[JobChange] = []

        def work(session: CatalogSession) -> tuple[list[BlobRecord], bool]:
            changes.clear()
            moment = self.clock()
            job = self._waiting(session, context, token, moment)
            queue = job.payload.get(QUEUE_KEY, "")
            if self.recorder.source_gone(session, job):
                # Its object was overwritten or deleted: the run ends superseded.
                gone = Result(job.id, job.attempt, Outcome.FAILED, moment, moment, error=GONE)
                return self.recorder.record_in(session, [gone], job.worker or "", changes), True
            error = (
                f"the consumer of {queue!r} failed: {told}" if outcome is Outcome.FAILED else None
            )
            started = job.started_at or moment
            result = Result(
                job.id,
                job.attempt,
                outcome,
                started,
                moment,
                error=error,
                metadata=metadata or {},
                report={"queue": queue},
            )
            return self.recorder.record_in(session, [result], job.worker or "", changes), False

        unused, gone = self.catalog.run_write(work)
        self.recorder.objects.writes.free(unused)
        self.recorder.hooks.jobs_changed(changes)
        if gone:
            raise TaskTimedOut(f"Task Timed Out: {GONE}")

    def _waiting(
        self, session: CatalogSession, context: RequestContext, token: Token, now: datetime
    ) -> Job:
        """The job ``token`` was sent for, locked, still waiting for this attempt's
        answer; the error Step Functions gives otherwise."""
        job = session.queue.lock_job(token.job_id)
        secret = job.payload.get(TOKEN_KEY) if job is not None else None
        if job is None or not isinstance(secret, str):
            raise TaskDoesNotExist("Task does not exist anymore")
        queue = str(job.payload.get(QUEUE_KEY, ""))
        if not context.permissions.allows_queue(Access.READ, queue or None):
            raise AccessDenied(f"{context.principal} may not answer tasks of queue {queue}")
        if job.attempt == token.attempt and not secrets.compare_digest(secret, token.secret):
            raise InvalidToken("Invalid Token: it does not match the task's")
        held = job.state is JobState.RUNNING and job.worker == HOLDER_PREFIX + queue
        if held and (job.attempt, job.claims) == (token.attempt, token.claim):
            if job.lease_expires_at is not None and job.lease_expires_at <= now:
                raise TaskTimedOut("Task Timed Out: no answer or heartbeat came in time")
            return job
        ended = [a for a in session.queue.step_runs_of([job.id]) if a.attempt == token.attempt]
        if not ended or any(a.outcome is Outcome.TIMED_OUT for a in ended):
            raise TaskTimedOut("Task Timed Out: the attempt it was sent for is over")
        raise TaskDoesNotExist("Task does not exist anymore: it was answered")


def timed_out(job: Job, moment: datetime) -> Result:
    """The failed attempt of a queue step's job no consumer answered in time."""
    queue = (job.worker or "").removeprefix(HOLDER_PREFIX)
    error = f"States.Timeout: no consumer of SQS queue {queue!r} answered the task in time"
    return Result(
        job.id, job.attempt, Outcome.TIMED_OUT, job.started_at or moment, moment, error=error
    )


def is_handed_over(job: Job) -> bool:
    """Whether a queue holds ``job`` (rather than a worker pool)."""
    return (job.worker or "").startswith(HOLDER_PREFIX)


def _lease_seconds(step: Step) -> float:
    if step.heartbeat_seconds is None:
        return step.timeout_seconds
    return min(step.heartbeat_seconds, step.timeout_seconds)


def _output(output: object) -> Any:
    if not isinstance(output, str):
        raise InvalidOutput("output must be a JSON document, as text")
    if len(output.encode()) > MAX_OUTPUT_BYTES:
        raise InvalidOutput(f"output is over {MAX_OUTPUT_BYTES} bytes")
    try:
        return json.loads(output, parse_constant=_no_constant)
    except ValueError as exc:
        raise InvalidOutput(f"Invalid Output: output is not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidOutput("Invalid Output: output nests too deep") from None


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's parser takes them; databases do not)."""
    raise ValueError(f"{name} is not a JSON value")


def _text(name: str, value: object, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise TaskError(f"{name} must be text of at most {limit} characters")
    return value
