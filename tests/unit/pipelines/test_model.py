"""Compiled pipelines: a broken config fails at start with a message naming the pipeline,
step and field; triggers match what they say; notify blocks become steps."""

from __future__ import annotations

from typing import Any

import pytest

from chute.context import PIPELINE_PRINCIPAL
from chute.errors import ConfigError
from chute.pipelines.model import compile_pipelines
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
