"""Pipeline configuration: a broken config fails at start with a message naming the
pipeline, step and field; triggers match what they say; retry backoff on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chute.context import PIPELINE_PRINCIPAL
from chute.errors import ConfigError
from chute.pipelines.model import compile_pipelines
from chute.processors.base import local_context
from chute.queue.retry import RetryPolicy
from chute.settings import load_settings


def _problems(pipelines: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        compile_pipelines(load_settings(pipelines=pipelines).pipelines)
    return caught.value.problems


def _one(steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"thumbs": {"trigger": {"bucket": "inbox"}, "steps": steps, **extra}}


def test_an_unknown_processor_names_pipeline_step_and_field() -> None:
    (problem,) = _problems(_one([{"name": "small", "processor": "image.thumbnial"}]))
    assert problem.startswith("pipelines.thumbs.steps[0] (small).processor: no processor named")
    assert "image.thumbnail" in problem  # the known names are listed


def test_bad_options_name_the_option() -> None:
    steps = [{"name": "small", "processor": "image.thumbnail", "options": {"quality": 500}}]
    (problem,) = _problems(_one(steps))
    assert problem.startswith("pipelines.thumbs.steps[0] (small).options.quality:")


def test_a_cycle_in_needs_is_refused() -> None:
    steps = [
        {"name": "a", "processor": "noop", "needs": ["b"]},
        {"name": "b", "processor": "noop", "needs": ["a"]},
    ]
    (problem,) = _problems(_one(steps))
    assert problem == "pipelines.thumbs.steps: 'needs' form a cycle through a, b"


@pytest.mark.parametrize(
    ("pipelines", "expected"),
    [
        (_one([{"name": "a", "processor": "noop", "needs": ["zz"]}]), "needs unknown steps: zz"),
        (_one([{"name": "a", "processor": "noop"}] * 2), "repeated: a"),
        (_one([{"name": "a", "processor": "noop", "timeout_seconds": 0}]), "timeout_seconds"),
        (_one([{"name": "a b", "processor": "noop"}]), "steps.0.name"),
        (
            _one([{"name": "a", "processor": "noop"}], notify={"urls": ["ftp://x"], "secret": "x"}),
            "not an http:// or https:// URL",
        ),
        (_one([{"name": "a", "processor": "noop"}], bogus=1), "pipelines.thumbs.bogus"),
        (
            {
                "p": {
                    "trigger": {"bucket": "b", "include_outputs": True},
                    "output_bucket": "b",
                    "steps": [{"name": "a", "processor": "noop"}],
                }
            },
            "process the pipeline's own outputs forever",
        ),
    ],
)
def test_structural_problems_fail_at_load(pipelines: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(pipelines=pipelines)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_a_bad_webhook_secret_is_refused_without_showing_it() -> None:
    pipelines = _one(
        [{"name": "a", "processor": "noop"}],
        notify={"urls": ["https://example.com/hook"], "secret": "whsec_!!!!"},
    )
    (problem,) = _problems(pipelines)
    assert problem.startswith("pipelines.thumbs.notify[0].secret:")
    assert "!!!!" not in problem


def _pipeline(**trigger: Any) -> Any:
    steps = [{"name": "a", "processor": "noop"}]
    config = {"p": {"trigger": {"bucket": "inbox", **trigger}, "steps": steps}}
    return compile_pipelines(load_settings(pipelines=config).pipelines)["p"]


@pytest.mark.parametrize(
    ("trigger", "event", "key", "size", "content_type", "expected"),
    [
        ({}, "ObjectCreated:Put", "a.jpg", 1, "image/jpeg", True),
        ({}, "ObjectRemoved:Delete", "a.jpg", 1, "image/jpeg", False),
        ({"events": ["ObjectRemoved:*"]}, "ObjectRemoved:Delete", "a", 1, "", True),
        ({"prefix": "photos/"}, "ObjectCreated:Put", "docs/a.jpg", 1, "image/jpeg", False),
        ({"suffix": [".jpg", ".png"]}, "ObjectCreated:Copy", "A.PNG", 1, "image/png", True),
        ({"suffix": ".jpg"}, "ObjectCreated:Put", "a.jpeg", 1, "image/jpeg", False),
        ({"content_type": "image/*"}, "ObjectCreated:Put", "a", 1, "text/plain", False),
        ({"min_size": 10}, "ObjectCreated:Put", "a", 9, "", False),
        ({"max_size": 10}, "ObjectCreated:Put", "a", 10, "", True),
    ],
)
def test_triggers(trigger, event, key, size, content_type, expected) -> None:
    pipeline = _pipeline(**trigger)
    assert pipeline.matches(event, "inbox", key, size, content_type, "anonymous") is expected


def test_outputs_trigger_nothing_unless_asked() -> None:
    principal = PIPELINE_PRINCIPAL + "other"
    assert not _pipeline().matches("ObjectCreated:Put", "inbox", "a", 1, "", principal)
    loop = _pipeline(include_outputs=True)
    assert loop.matches("ObjectCreated:Put", "inbox", "a", 1, "", principal)


def test_backoff_doubles_with_full_jitter_on_an_injected_clock() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(
        max_attempts=4, base_delay=2, max_delay=5, clock=lambda: start, rng=lambda: 0.5
    )
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 2.5, 2.5]
    assert policy.decide(1).run_at == start + timedelta(seconds=1)
    assert policy.decide(2, delay=30).run_at == start + timedelta(seconds=30)
    assert policy.decide(4).give_up
    assert policy.decide(1, permanent=True).give_up


def test_output_keys_follow_the_template() -> None:
    ctx = local_context(
        b"x", key="photos/2024/cat.tar.gz", output_template="{stem}/t-{width}.{ext}"
    )
    assert ctx.output_key(width=100) == "photos/2024/cat.tar/t-100.gz"
    ctx = local_context(b"x", key="photos/cat", output_template="{dir}/{base}-{step}")
    assert ctx.output_key() == "photos/cat-local"
    ctx = local_context(b"x", key="cat.jpg", output_template="{nope}")
    with pytest.raises(Exception, match="uses \\{nope\\}"):
        ctx.output_key()


def test_notify_blocks_compile_into_steps_of_the_delivery_processor() -> None:
    from chute.queue.states import JobKind

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    settings = load_settings(
        pipelines={
            "p": {
                "trigger": {"bucket": "inbox"},
                "steps": [{"name": "a", "processor": "noop"}],
                "notify": [
                    {"urls": ["https://a.example/hook"], "secret": secret, "on": ["failure"]}
                ],
            }
        }
    )
    pipeline = compile_pipelines(settings.pipelines)["p"]
    (notification,) = pipeline.notifications
    assert notification.on == {"failure"}
    step = pipeline.step_of(JobKind.NOTIFY, "notify:failure", {"notify": 0})
    assert step is notification.step
    assert step.processor.name == "notify.deliver"
    assert step.retry.max_attempts == 8  # the notify block's default, not a step's
    assert pipeline.step_of(JobKind.NOTIFY, "notify:failure", {"notify": 1}) is None
    assert pipeline.step_of(JobKind.STEP, "a", {}) is pipeline.steps["a"]
