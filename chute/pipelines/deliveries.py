"""Deliveries to webhook targets, and the destinations bucket notification rules name.

A webhook target (``[webhooks.NAME]``) is compiled into a pipeline of its own,
``topic:NAME`` (a configured pipeline's name cannot hold ``:``), with one
``notify.deliver`` step per URL and no trigger of its own: only bucket notification
rules start it. Each run delivers one message: an event's ``{"Records": [...]}`` S3
notification message, or the ``s3:TestEvent`` S3 sends when a configuration is saved.
So messages are queued in the transaction of their event, signed, retried with backoff,
and shown in the status of their object like any run.

:class:`Destinations` is what the S3 API asks about the names a configuration gives:
whether they exist, and it queues the test events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import ConfigError
from chute.events import format_time
from chute.functions.registry import allows_service
from chute.pipelines.bucket_rules import BucketNotifications, DestinationKind, NotificationRule
from chute.pipelines.model import NOTIFY_PROCESSOR, Pipeline, Step
from chute.processors.registry import get_processor, known
from chute.queue.records import NewJob, RunSource
from chute.queue.retry import RetryPolicy
from chute.settings import NAME, TriggerConfig, WebhookConfig
from chute.sqs.service import enqueue

#: Names of delivery pipelines: this and the webhook target's name.
DELIVERY_PREFIX = "topic:"
#: A trigger on no bucket (no bucket is named ""): only notification rules start it.
NO_TRIGGER = TriggerConfig(bucket="")
TEST_EVENT = "s3:TestEvent"
#: The ``SenderId`` of the messages S3 notifications put on SQS queues.
S3_SENDER = "S3"
#: The service principal a function's policy names to let S3 invoke it.
S3_SERVICE = "s3.amazonaws.com"


@dataclass(frozen=True)
class Delivery:
    """A webhook target, compiled: its pipeline, and the URL each of its steps posts to."""

    target: str
    pipeline: Pipeline
    urls: dict[str, str]

    def jobs(self, body: dict[str, Any], identity: str) -> list[NewJob]:
        """One job per URL, posting ``body``; ``identity`` names the message, so every
        attempt sends the same ``webhook-id``."""
        return [
            NewJob(
                step=step,
                max_attempts=self.pipeline.steps[step].retry.max_attempts,
                payload={"url": url, "body": body, "msg_id": message_id(identity, url)},
            )
            for step, url in self.urls.items()
        ]


def delivery_name(target: str) -> str:
    return DELIVERY_PREFIX + target


def compile_deliveries(webhooks: Mapping[str, WebhookConfig]) -> dict[str, Delivery]:
    """The webhook targets as deliveries, by target name; ``ConfigError`` lists every
    broken one (a bad name or secret)."""
    problems: list[str] = []
    deliveries = {}
    spec = get_processor(NOTIFY_PROCESSOR)
    for name, config in webhooks.items():
        where = f"webhooks.{name}"
        if not NAME.match(name):
            problems.append(f"{where}: names use 1-64 letters, digits, '.', '_' or '-'")
            continue
        options = {"secret": config.secret, "timeout_seconds": config.timeout_seconds}
        try:
            parsed = spec.parse_options(options)
        except ValidationError as exc:
            problems += [
                f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            ]
            continue
        retry = config.retry
        policy = RetryPolicy(retry.max_attempts, retry.base_delay, retry.max_delay, retry.jitter)
        # The timeout applies to each phase of a request: the attempt's limit allows all.
        seconds = config.timeout_seconds * 3 + 1
        urls = {f"deliver[{index}]": url for index, url in enumerate(config.urls)}
        steps = {
            step: Step(step, spec, parsed, options, (), "", seconds, 0, policy) for step in urls
        }
        pipeline = Pipeline(delivery_name(name), NO_TRIGGER, steps, "", reads_source=False)
        deliveries[name] = Delivery(name, pipeline, urls)
    if problems:
        raise ConfigError(problems)
    return deliveries


def message_id(identity: str, url: str) -> str:
    """A ``webhook-id`` that stays the same on every retry of one message to one URL."""
    return "msg_" + hashlib.sha256(f"{identity}/{url}".encode()).hexdigest()[:32]


def event_message(record: dict[str, Any], rule: NotificationRule) -> dict[str, Any]:
    """The S3 notification message telling of one event record, as fired by ``rule``."""
    return {"Records": [configured(record, rule)]}


def configured(record: dict[str, Any], rule: NotificationRule) -> dict[str, Any]:
    """``record`` as S3 sends it for ``rule``: ``s3.configurationId`` is the rule's id."""
    return {**record, "s3": {**record["s3"], "configurationId": rule.id}}


def s3_test_event(bucket: str, request_id: str, host_id: str, moment: datetime) -> dict[str, Any]:
    """The message S3 sends a topic or queue when a configuration naming it is saved."""
    return {
        "Service": "Amazon S3",
        "Event": TEST_EVENT,
        "Time": format_time(moment),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    }


def s3_may_invoke(session: CatalogSession, function: str, bucket: str) -> bool:
    """Whether the function's policy (AddPermission's) lets S3 invoke it for ``bucket``;
    a function of chute.toml has none."""
    row = session.functions.get(function)
    policy = row.policy if row is not None else []
    return allows_service(policy, S3_SERVICE, f"arn:aws:s3:::{bucket}")


def is_test_event(event: Mapping[str, Any]) -> bool:
    """Whether a run's event is a test event (it has no object)."""
    return event.get("Event") == TEST_EVENT


class Destinations:
    """The pipelines, webhook targets and queues that notification rules may name."""

    def __init__(
        self,
        catalog: Catalog,
        pipelines: Mapping[str, Pipeline],
        deliveries: Mapping[str, Delivery],
        clock: Clock,
        on_jobs: Callable[[], None],
        functions: Collection[str] = (),
        on_message: Callable[[int], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.pipelines = pipelines
        self.deliveries = deliveries
        #: The names of the functions (``[functions.NAME]``).
        self.functions = functions
        self.clock = clock
        self.on_jobs = on_jobs
        #: Wakes receives waiting on an SQS queue (by its row id) given a test event.
        self.on_message = on_message or (lambda queue_id: None)

    def refusal(
        self, rule: NotificationRule, context: RequestContext | None = None, bucket: str = ""
    ) -> str | None:
        """Why the destination of ``rule`` cannot be used (by ``context``, for
        ``bucket``), or ``None`` if it can. As on AWS, S3 may invoke a function only if
        the function's policy lets ``s3.amazonaws.com`` do so for the bucket
        (AddPermission); administrators may name any function."""
        name = rule.name
        if rule.kind is DestinationKind.FUNCTION:
            if name in self.functions:
                return self._invoke_refusal(name, context, bucket)
            if name in self.pipelines:
                return None
            if name in known():
                return (
                    f"{name!r} is a processor, not a pipeline: declare a pipeline in "
                    "chute.toml with a step running it, and name that pipeline"
                )
            return f"no function or pipeline named {name!r} is configured"
        if rule.kind is DestinationKind.TOPIC:
            if name in self.deliveries:
                return None
            return f"no webhook target named {name!r} is configured ([webhooks.{name}])"
        with self.catalog.read() as session:
            queue = session.messages.queue(name)
        if queue is None:
            return f"no SQS queue named {name!r} exists"
        if queue.fifo:
            return "a FIFO queue cannot be the destination of S3 event notifications"
        return None

    def _invoke_refusal(self, name: str, context: RequestContext | None, bucket: str) -> str | None:
        if context is None or context.permissions.is_admin:
            return None
        with self.catalog.read() as session:
            if s3_may_invoke(session, name, bucket):
                return None
        source = f"arn:aws:s3:::{bucket}"
        return (
            f"the policy of function {name!r} does not let {S3_SERVICE} invoke it for "
            f"{source} (aws lambda add-permission --principal {S3_SERVICE} --source-arn "
            f"{source} ...)"
        )

    def refusals(
        self,
        config: BucketNotifications,
        context: RequestContext | None = None,
        bucket: str = "",
        *,
        permissions_only: bool = False,
    ) -> list[tuple[str, str]]:
        """``(ARN, why)`` for every destination of ``config`` that cannot be used; with
        ``permissions_only`` (``x-amz-skip-destination-validation``), only for the
        functions ``context`` may not point ``bucket`` at, whether they exist or not."""
        found = []
        for rule in config.rules:
            if permissions_only:
                if rule.kind is not DestinationKind.FUNCTION or rule.name in self.pipelines:
                    continue
                reason = self._invoke_refusal(rule.name, context, bucket)
            else:
                reason = self.refusal(rule, context, bucket)
            if reason is not None and (rule.arn, reason) not in found:
                found.append((rule.arn, reason))
        return found

    def send_test_events(
        self, bucket: str, config: BucketNotifications, request_id: str, host_id: str
    ) -> int:
        """Queue the ``s3:TestEvent`` message to every webhook target and SQS queue
        ``config`` names, as S3 sends one to each topic and queue; returns how many
        destinations. S3 sends none to Lambda functions, and Chute none to pipelines: a
        run needs an object."""
        targets = sorted({rule.name for rule in config.of_kind(DestinationKind.TOPIC)})
        deliveries = [self.deliveries[name] for name in targets if name in self.deliveries]
        queues = sorted({rule.name for rule in config.of_kind(DestinationKind.QUEUE)})
        if not deliveries and not queues:
            return 0

        def work(session: CatalogSession) -> list[int]:
            moment = self.clock()
            body = s3_test_event(bucket, request_id, host_id, moment)
            source = RunSource(bucket, "", "", None, body)
            identity = f"test/{bucket}/{request_id}"
            for delivery in deliveries:
                jobs = delivery.jobs(body, identity)
                session.queue.create_run(delivery.pipeline.name, source, jobs, moment)
            text = json.dumps(body)
            sent = [enqueue(session, name, text, moment, S3_SENDER) for name in queues]
            return [queue_id for queue_id in sent if queue_id is not None]

        queue_ids = self.catalog.run_write(work)
        if deliveries:
            self.on_jobs()
        for queue_id in queue_ids:
            self.on_message(queue_id)
        return len(deliveries) + len(queue_ids)
