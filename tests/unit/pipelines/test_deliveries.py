"""Webhook targets compile into delivery pipelines; messages in S3's shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chute.errors import ConfigError
from chute.pipelines.bucket_rules import DestinationKind, NotificationRule
from chute.pipelines.deliveries import (
    compile_deliveries,
    event_message,
    is_test_event,
    message_id,
    s3_test_event,
)
from chute.settings import load_settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_target_becomes_a_pipeline_with_a_delivery_step_per_url() -> None:
    webhooks = load_settings(
        webhooks={"orders": {"urls": ["https://a.test/1", "https://b.test/2"], "secret": SECRET}}
    ).webhooks
    delivery = compile_deliveries(webhooks)["orders"]
    pipeline = delivery.pipeline
    assert pipeline.name == "topic:orders"
    assert not pipeline.reads_source
    assert list(pipeline.steps) == ["deliver[0]", "deliver[1]"]
    step = pipeline.steps["deliver[0]"]
    assert step.processor.name == "notify.deliver"
    assert step.retry.max_attempts == 8
    assert step.timeout_seconds == 31  # connect, send and read may each take 10 s
    # No trigger of its own: no bucket is named "".
    assert pipeline.refuses_place("inbox", "x") is not None
    jobs = delivery.jobs({"Records": []}, "event/1/r")
    assert [job.payload["url"] for job in jobs] == ["https://a.test/1", "https://b.test/2"]
    assert jobs[0].payload["msg_id"] == message_id("event/1/r", "https://a.test/1")


def test_broken_targets_are_reported_together_without_their_secret() -> None:
    webhooks = load_settings(
        webhooks={
            "bad name!": {"urls": ["https://a.test"], "secret": SECRET},
            "weak": {"urls": ["https://a.test"], "secret": "whsec_c2hvcnQ="},
        }
    ).webhooks
    with pytest.raises(ConfigError) as caught:
        compile_deliveries(webhooks)
    problems = caught.value.problems
    assert problems[0].startswith("webhooks.bad name!:")
    assert problems[1].startswith("webhooks.weak.secret:")
    assert "c2hvcnQ" not in str(caught.value)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"urls": ["ftp://a.test"], "secret": SECRET}, "is not an http:// or https:// URL"),
        ({"urls": ["https://a.test", "https://a.test"], "secret": SECRET}, "more than once"),
        ({"urls": [], "secret": SECRET}, "at least 1 item"),
        ({"urls": ["https://a.test"]}, "secret"),
    ],
)
def test_target_settings_are_checked_at_load(target: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(webhooks={"orders": target})


def test_an_event_message_names_the_rule_that_fired() -> None:
    rule = NotificationRule(
        "r1", DestinationKind.TOPIC, "arn:chute:topic:t", ("s3:ObjectCreated:*",)
    )
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Put",
        "s3": {"configurationId": "chute", "x": 1},
    }
    message = event_message(record, rule)
    assert message == {
        "Records": [{"eventName": "ObjectCreated:Put", "s3": {"configurationId": "r1", "x": 1}}]
    }
    assert record["s3"]["configurationId"] == "chute"  # the record itself is left alone


def test_the_test_event_is_s3s() -> None:
    event = s3_test_event("photos", "REQ", "HOST", datetime(2026, 5, 1, 12, tzinfo=UTC))
    assert event == {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-05-01T12:00:00.000Z",
        "Bucket": "photos",
        "RequestId": "REQ",
        "HostId": "HOST",
    }
    assert is_test_event(event)
    assert not is_test_event({"eventName": "ObjectCreated:Put"})
