"""Bucket notification configurations route events, on SQLite and PostgreSQL, with the
test as the worker: a function rule starts its pipeline in the write's transaction, a
topic rule queues the S3 message to its webhook target, test events, outputs and the
pipeline's own conditions, and configurations that change or name what is gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.catalog import Bucket, CatalogSession, EventRow, ObjectVersion
from chute.clock import FakeClock
from chute.context import RequestContext
from chute.hooks import Observer
from chute.jobs import Result, Task
from chute.pipelines.bucket_rules import BucketNotifications, DestinationKind, NotificationRule
from chute.queue.records import JobFilter
from chute.queue.states import JobState, ObjectStatus, Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

WORKER = "test-worker"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:thumbs"
SNS = "arn:aws:sns:us-east-1:123456789012:orders"
FUNCTION, TOPIC, QUEUE = DestinationKind.FUNCTION, DestinationKind.TOPIC, DestinationKind.QUEUE


def _settings(tmp_path: Path, catalog_url: str, **pipeline: Any) -> dict[str, Any]:
    thumbs = {
        "trigger": {"bucket": "inbox", "prefix": "own/"},
        "steps": [{"name": "resize", "processor": "noop"}],
        **pipeline,
    }
    return {
        "data_dir": tmp_path,
        "database_url": catalog_url,
        "buckets": ["photos"],
        "pipelines": {"thumbs": thumbs},
        "webhooks": {
            "orders": {
                "urls": ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"],
                "secret": SECRET,
                "retry": {"max_attempts": 2, "base_delay": 10, "jitter": False},
            }
        },
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    rt = open_runtime(load_settings(**_settings(tmp_path, catalog_url)), clock=clock)
    yield rt
    rt.close()


def _rule(
    kind: DestinationKind = FUNCTION,
    arn: str = LAMBDA,
    events: tuple[str, ...] = ("s3:ObjectCreated:*",),
    suffix: str | None = ".jpg",
    id: str = "images",
) -> NotificationRule:
    rules = (("Suffix", suffix),) if suffix is not None else ()
    return NotificationRule(id, kind, arn, events, rules)


def _configure(rt: Runtime, *rules: NotificationRule, bucket: str = "photos") -> None:
    rt.objects.set_notifications(CTX, bucket, BucketNotifications(rules).to_json())


def _claim(rt: Runtime) -> list[Task]:
    claimed = rt.broker.claim(WORKER, 50, lease=30)
    assert claimed.settled == []
    return claimed.tasks


def _ok(task: Task, clock: FakeClock) -> Result:
    return Result(task.job_id, task.attempt, Outcome.SUCCEEDED, clock(), clock())


def _failed(task: Task, clock: FakeClock) -> Result:
    return Result(task.job_id, task.attempt, Outcome.FAILED, clock(), clock(), error="503")


def _status(rt: Runtime, key: str, bucket: str = "photos") -> ObjectStatus:
    return rt.status.status(CTX, bucket, key).status


# --- functions: pipelines --------------------------------------------------------------


def test_a_function_rule_starts_its_pipeline_on_another_bucket(runtime):
    _configure(runtime, _rule())
    runtime.objects.put(CTX, "photos", "x.jpg", [b"jpeg"])
    runtime.objects.put(CTX, "photos", "x.txt", [b"text"])
    assert _status(runtime, "x.jpg") is ObjectStatus.PENDING
    assert _status(runtime, "x.txt") is ObjectStatus.NONE
    (task,) = _claim(runtime)
    assert (task.pipeline, task.step, task.source.bucket) == ("thumbs", "resize", "photos")
    event = json.loads(task.event_json)
    assert event["eventName"] == "ObjectCreated:Put"
    assert event["s3"]["configurationId"] == "images"  # as S3 names the rule that fired


def test_the_run_commits_with_the_write_or_not_at_all(runtime):
    """The outbox: a write whose transaction fails after routing leaves neither the
    version nor the run."""

    class Refuse(Observer):
        def object_changed(
            self,
            session: CatalogSession,
            event: EventRow,
            version: ObjectVersion,
            bucket: Bucket,
        ) -> None:
            raise RuntimeError("the transaction fails after the router ran")

    _configure(runtime, _rule())
    runtime.hooks.add(Refuse())
    with pytest.raises(RuntimeError):
        runtime.objects.put(CTX, "photos", "x.jpg", [b"jpeg"])
    runtime.hooks.observers.pop()
    assert runtime.status.counts(CTX, JobFilter()) == {}
    assert runtime.objects.list_objects(CTX, "photos").objects == []


def test_a_pipeline_its_trigger_and_a_rule_both_select_runs_once(runtime):
    _configure(runtime, _rule(suffix=None), bucket="inbox")
    runtime.objects.put(CTX, "inbox", "own/x.jpg", [b"jpeg"])  # the trigger's prefix too
    assert len(_claim(runtime)) == 1
    runtime.objects.put(CTX, "inbox", "elsewhere/x.jpg", [b"jpeg"])  # the rule only
    assert len(_claim(runtime)) == 1


def test_the_pipelines_content_conditions_still_hold(tmp_path, catalog_url, clock):
    settings = _settings(tmp_path, catalog_url)
    settings["pipelines"]["thumbs"]["trigger"].update(content_type="image/*", max_size=10)
    rt = open_runtime(load_settings(**settings), clock=clock)
    try:
        _configure(rt, _rule())
        rt.objects.put(CTX, "photos", "a.jpg", [b"jpeg"], content_type="image/jpeg")
        rt.objects.put(CTX, "photos", "b.jpg", [b"jpeg"], content_type="text/plain")
        rt.objects.put(CTX, "photos", "c.jpg", [b"x" * 11], content_type="image/jpeg")
        assert [t.source.key for t in _claim(rt)] == ["a.jpg"]
    finally:
        rt.close()


def test_outputs_of_pipelines_start_no_pipeline_by_rule(runtime):
    _configure(runtime, _rule())
    pipeline_write = RequestContext.pipeline("other", "R1")
    runtime.objects.put(pipeline_write, "photos", "x.jpg", [b"jpeg"])
    assert _claim(runtime) == []


def test_include_outputs_lets_other_pipelines_outputs_in_but_never_its_own(
    tmp_path, catalog_url, clock
):
    settings = _settings(tmp_path, catalog_url)
    settings["pipelines"]["thumbs"]["trigger"]["include_outputs"] = True
    rt = open_runtime(load_settings(**settings), clock=clock)
    try:
        _configure(rt, _rule())
        rt.objects.put(RequestContext.pipeline("other", "R1"), "photos", "a.jpg", [b"1"])
        rt.objects.put(RequestContext.pipeline("thumbs", "R2"), "photos", "b.jpg", [b"2"])
        assert [t.source.key for t in _claim(rt)] == ["a.jpg"]
    finally:
        rt.close()


def test_removal_events_start_a_pipeline_with_no_bytes(runtime):
    _configure(runtime, _rule(events=("s3:ObjectRemoved:*",)))
    runtime.objects.put(CTX, "photos", "x.jpg", [b"jpeg"])
    assert _claim(runtime) == []
    runtime.objects.delete(CTX, "photos", "x.jpg")
    (task,) = _claim(runtime)
    assert json.loads(task.event_json)["eventName"] == "ObjectRemoved:Delete"
    assert task.inline == b""


def test_a_changed_configuration_applies_from_the_next_write(runtime):
    _configure(runtime, _rule())
    runtime.objects.put(CTX, "photos", "1.jpg", [b"1"])
    _configure(runtime, _rule(suffix=".png"))
    runtime.objects.put(CTX, "photos", "2.jpg", [b"2"])
    runtime.objects.put(CTX, "photos", "3.png", [b"3"])
    runtime.objects.set_notifications(CTX, "photos", None)
    runtime.objects.put(CTX, "photos", "4.png", [b"4"])
    assert sorted(t.source.key for t in _claim(runtime)) == ["1.jpg", "3.png"]


def test_a_configuration_survives_a_restart(tmp_path, catalog_url, clock):
    settings = load_settings(**_settings(tmp_path, catalog_url))
    first = open_runtime(settings, clock=clock)
    _configure(first, _rule())
    first.close()
    again = open_runtime(settings, clock=clock)
    try:
        again.objects.put(CTX, "photos", "x.jpg", [b"jpeg"])
        assert [t.pipeline for t in _claim(again)] == ["thumbs"]
    finally:
        again.close()


def test_rules_naming_what_does_not_exist_start_nothing(runtime):
    """Saved with destination validation skipped, or left behind by a config change."""
    gone = "arn:chute:function:gone"
    _configure(
        runtime,
        _rule(arn=gone, id="a"),
        _rule(TOPIC, "arn:chute:topic:nobody", suffix=".png", id="b"),
        _rule(QUEUE, "arn:chute:queue:later", suffix=".gif", id="c"),
    )
    for key in ("x.jpg", "x.png", "x.gif"):
        runtime.objects.put(CTX, "photos", key, [b"1"])
    assert _claim(runtime) == []


# --- topics: webhook targets -----------------------------------------------------------


def test_a_topic_rule_queues_the_s3_message_to_each_url(runtime, clock):
    _configure(runtime, _rule(TOPIC, SNS, suffix=None, id="to-orders"))
    version = runtime.objects.put(CTX, "photos", "docs/a b.pdf", [b"pdf"])
    tasks = sorted(_claim(runtime), key=lambda t: t.step)
    assert [(t.pipeline, t.step, t.processor) for t in tasks] == [
        ("topic:orders", "deliver[0]", "notify.deliver"),
        ("topic:orders", "deliver[1]", "notify.deliver"),
    ]
    assert [t.payload["url"] for t in tasks] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    (record,) = tasks[0].payload["body"]["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "to-orders"
    assert record["s3"]["bucket"]["name"] == "photos"
    assert record["s3"]["object"]["key"] == "docs/a+b.pdf"
    assert record["s3"]["object"]["eTag"] == version.etag
    assert tasks[0].payload["msg_id"] != tasks[1].payload["msg_id"]
    assert tasks[0].options["secret"] == SECRET
    assert tasks[0].inline == b""  # a delivery reads no bytes


def test_a_delivery_retries_and_redrives_like_any_job(runtime, clock):
    _configure(runtime, _rule(TOPIC, SNS, suffix=None))
    runtime.objects.put(CTX, "photos", "a.txt", [b"1"])
    first = sorted(_claim(runtime), key=lambda t: t.step)
    msg_id = first[0].payload["msg_id"]
    runtime.broker.record([_failed(first[0], clock), _ok(first[1], clock)], WORKER)
    assert _status(runtime, "a.txt") is ObjectStatus.FAILED
    clock.advance(10)
    (again,) = _claim(runtime)
    assert (again.attempt, again.payload["msg_id"]) == (2, msg_id)  # the same webhook-id
    runtime.broker.record([_failed(again, clock)], WORKER)
    assert _status(runtime, "a.txt") is ObjectStatus.DEAD
    assert runtime.control.redrive(CTX, JobFilter(pipeline="topic:orders")) == 1
    (third,) = _claim(runtime)
    assert third.attempt == 3
    runtime.broker.record([_ok(third, clock)], WORKER)
    assert _status(runtime, "a.txt") is ObjectStatus.SUCCEEDED


def test_a_delivery_goes_out_after_its_object_was_overwritten(runtime, clock):
    """Unlike a step, a delivery tells of an event: a newer version does not cancel it."""
    events = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
    _configure(runtime, _rule(TOPIC, SNS, events=events, suffix=None))
    runtime.objects.put(CTX, "photos", "a.txt", [b"1"])
    runtime.objects.put(CTX, "photos", "a.txt", [b"2"])
    runtime.objects.delete(CTX, "photos", "a.txt")
    tasks = _claim(runtime)
    assert len(tasks) == 6  # 3 events, 2 URLs each
    runtime.broker.record([_failed(tasks[0], clock)], WORKER)
    (job,) = runtime.status.jobs(CTX, JobFilter(states=(JobState.RETRYABLE,))).jobs
    assert job.id == tasks[0].job_id  # retried, not superseded


def test_pipeline_outputs_are_delivered_to_topics(runtime):
    """A delivery writes nothing, so a topic hears of what pipelines write too."""
    _configure(runtime, _rule(TOPIC, SNS, suffix=None))
    runtime.objects.put(RequestContext.pipeline("thumbs", "R1"), "photos", "t.webp", [b"1"])
    assert {t.pipeline for t in _claim(runtime)} == {"topic:orders"}


def test_one_event_can_start_a_pipeline_and_a_delivery_of_disjoint_rules(runtime):
    _configure(
        runtime,
        _rule(events=("s3:ObjectCreated:Put",), id="f"),
        _rule(TOPIC, SNS, events=("s3:ObjectCreated:Copy",), id="t"),
    )
    version = runtime.objects.put(CTX, "photos", "a.jpg", [b"1"])
    runtime.objects.copy(CTX, "photos", "a.jpg", "photos", "b.jpg")
    assert version.size == 1
    assert sorted(t.pipeline for t in _claim(runtime)) == ["thumbs", "topic:orders", "topic:orders"]


# --- destinations and test events ------------------------------------------------------


def test_destinations_say_why_a_name_cannot_be_used(runtime):
    destinations = runtime.s3_services().destinations
    assert destinations is not None
    config = BucketNotifications(
        (
            _rule(id="1"),
            _rule(arn="arn:chute:function:nope", suffix=".a", id="2"),
            _rule(arn="arn:chute:function:image.thumbnail", suffix=".b", id="3"),
            _rule(TOPIC, SNS, suffix=".c", id="4"),
            _rule(TOPIC, "arn:chute:topic:nobody", suffix=".d", id="5"),
            _rule(QUEUE, "arn:aws:sqs:us-east-1:123456789012:jobs", suffix=".e", id="6"),
        )
    )
    refusals = dict(destinations.refusals(config))
    assert refusals == {
        "arn:chute:function:nope": "no function or pipeline named 'nope' is configured",
        "arn:chute:function:image.thumbnail": (
            "'image.thumbnail' is a processor, not a pipeline: declare a pipeline in "
            "chute.toml with a step running it, and name that pipeline"
        ),
        "arn:chute:topic:nobody": "no webhook target named 'nobody' is configured "
        "([webhooks.nobody])",
        "arn:aws:sqs:us-east-1:123456789012:jobs": "no SQS queue named 'jobs' exists",
    }


def test_a_test_event_goes_to_each_topic_once_and_to_no_pipeline(runtime, clock):
    destinations = runtime.s3_services().destinations
    assert destinations is not None
    config = BucketNotifications(
        (
            _rule(id="f"),
            _rule(TOPIC, SNS, suffix=".a", id="t1"),
            _rule(TOPIC, "arn:chute:topic:orders", suffix=".b", id="t2"),
        )
    )
    assert destinations.send_test_events("photos", config, "REQ1", "HOST") == 1
    tasks = sorted(_claim(runtime), key=lambda t: t.step)
    assert [t.pipeline for t in tasks] == ["topic:orders", "topic:orders"]
    body = tasks[0].payload["body"]
    assert body == {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": body["Time"],
        "Bucket": "photos",
        "RequestId": "REQ1",
        "HostId": "HOST",
    }
    assert body["Time"].endswith("Z")
    runtime.broker.record([_failed(tasks[0], clock), _ok(tasks[1], clock)], WORKER)
    (job,) = runtime.status.jobs(CTX, JobFilter(states=(JobState.RETRYABLE,))).jobs
    assert job.key == ""  # a test event is about no object, and is not superseded
