"""Compiled pipelines: a broken config fails at start with a message naming the pipeline,
step and field; triggers match what they say; notify blocks become steps."""

from __future__ import annotations

from typing import Any

import pytest

from chute.context import ANONYMOUS, PIPELINE_PRINCIPAL, SYSTEM_PRINCIPAL, RequestContext
from chute.errors import ConfigError
from chute.pipelines.model import TriggerCondition, compile_pipelines
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


def test_maps_compile_into_item_keeping_steps_and_their_join() -> None:
    steps: list[dict[str, Any]] = [
        {"name": "split", "processor": "noop"},
        {"name": "each", "processor": "noop", "map": "split", "max_concurrency": 3},
        {"name": "join", "processor": "noop", "needs": ["each"]},
        {"name": "pages", "processor": "noop", "map": "split"},  # nobody joins it
    ]
    compiled = compile_pipelines(load_settings(pipelines=_one(steps)).pipelines)["thumbs"]
    found = {
        name: (step.needs, step.map_over, step.keeps_items, step.joins)
        for name, step in compiled.steps.items()
    }
    assert found == {
        "split": ((), None, True, ()),
        "each": (("split",), "split", True, ()),
        "join": (("each",), None, False, ("each",)),
        "pages": (("split",), "split", False, ()),
    }
    assert compiled.steps["each"].max_concurrency == 3


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"map": "a2"}, "'a2' is a Map itself"),
        ({"map": "b"}, "a step cannot map over itself"),
        ({"map": "a", "when": "object.size > `1`"}, "a Map takes no 'when'"),
    ],
)
def test_a_map_over_a_map_itself_or_with_a_condition_is_refused(
    step: dict[str, Any], problem: str
) -> None:
    steps = [
        {"name": "a", "processor": "noop"},
        {"name": "a2", "processor": "noop", "map": "a"},
        {"name": "b", "processor": "noop", **step},
    ]
    problems = _problems(_one(steps))
    assert any(problem in found and "steps[2] (b).map" in found for found in problems), problems


def test_max_concurrency_without_a_map_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(pipelines=_one([{"name": "a", "processor": "noop", "max_concurrency": 2}]))
    assert any("max_concurrency limits a Map" in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"queue": "q", "processor": "noop"}, "names a processor, a function or a queue"),
        ({"queue": "q", "options": {"a": 1}}, "a queue step takes no options"),
        ({"processor": "noop", "heartbeat_seconds": 5}, "heartbeat_seconds is for a queue step"),
        ({"queue": "q", "heartbeat_seconds": 0}, "heartbeat_seconds"),
    ],
)
def test_a_queue_step_is_checked(step: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(pipelines=_one([{"name": "a", **step}]))
    assert any(problem in found for found in caught.value.problems), caught.value.problems


def test_a_queue_step_compiles_and_cannot_be_a_map() -> None:
    steps: list[dict[str, Any]] = [
        {"name": "a", "queue": "work", "timeout_seconds": 600, "heartbeat_seconds": 30},
    ]
    compiled = compile_pipelines(load_settings(pipelines=_one(steps)).pipelines)["thumbs"]
    step = compiled.steps["a"]
    assert (step.queue, step.timeout_seconds, step.heartbeat_seconds) == ("work", 600, 30)
    steps = [{"name": "a", "processor": "noop"}, {"name": "b", "queue": "work", "map": "a"}]
    problems = _problems(_one(steps))
    assert any("a queue step cannot be a Map" in found for found in problems), problems


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


# --- what a trigger matches --------------------------------------------------------------

PUT = "ObjectCreated:Put"


def _refuses(trigger: dict[str, Any], key: str, size: int = 1, content_type: str = "") -> Any:
    return _pipeline(**trigger).refuses("inbox", key, size, content_type)


@pytest.mark.parametrize(
    ("events", "event", "expected"),
    [
        (["ObjectCreated:*"], "ObjectCreated:CompleteMultipartUpload", True),
        (["ObjectCreated:*"], "ObjectRemoved:Delete", False),
        (["ObjectRemoved:Delete"], "ObjectRemoved:Delete", True),
        (["ObjectRemoved:Delete"], "ObjectRemoved:DeleteMarkerCreated", False),
        (["ObjectRemoved:*"], "ObjectRemoved:DeleteMarkerCreated", True),
        (["ObjectCreated:Put", "ObjectRemoved:*"], "ObjectRemoved:Delete", True),
        (["ObjectCreated:Put", "ObjectRemoved:*"], "ObjectCreated:Copy", False),
        (["*"], "ObjectRestore:Completed", True),
        (["Object*:Delete"], "ObjectRemoved:Delete", True),
    ],
)
def test_event_patterns(events: list[str], event: str, expected: bool) -> None:
    assert _pipeline(events=events).matches(event, "inbox", "a", 1, "", "anonymous") is expected


def test_another_bucket_is_refused_first() -> None:
    pipeline = _pipeline(prefix="photos/", suffix=".jpg", min_size=10)
    assert not pipeline.matches(PUT, "outbox", "photos/a.jpg", 100, "", "anonymous")
    assert pipeline.refuses("outbox", "docs/a.txt", 1, "") is TriggerCondition.BUCKET
    assert pipeline.refuses("inbox", "docs/a.txt", 1, "") is TriggerCondition.PREFIX
    assert pipeline.refuses("inbox", "photos/a.txt", 1, "") is TriggerCondition.SUFFIX
    assert pipeline.refuses("inbox", "photos/a.jpg", 1, "") is TriggerCondition.MIN_SIZE
    assert pipeline.refuses("inbox", "photos/a.jpg", 10, "") is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("photos/a.jpg", None),
        ("photos/", None),
        ("photos/2024/deep/a.jpg", None),
        ("photos", TriggerCondition.PREFIX),
        ("Photos/a.jpg", TriggerCondition.PREFIX),
        ("docs/photos/a.jpg", TriggerCondition.PREFIX),
    ],
)
def test_the_prefix_starts_the_key(key: str, expected: TriggerCondition | None) -> None:
    assert _refuses({"prefix": "photos/"}, key) is expected


@pytest.mark.parametrize(
    ("suffix", "key", "expected"),
    [
        ([".jpg", ".png"], "a.png", None),
        ([".jpg", ".png"], "a.JPG", None),
        ([".JPG"], "dir/a.jpg", None),
        (".Tar.GZ", "backup.tar.gz", None),
        ([".jpg", ".png"], "a.gif", TriggerCondition.SUFFIX),
        ([".jpg"], "a.jpg.txt", TriggerCondition.SUFFIX),
        ([".jpg"], "jpg", TriggerCondition.SUFFIX),
        ([], "anything", None),
    ],
)
def test_suffixes_any_of_them_case_insensitive(
    suffix: list[str] | str, key: str, expected: TriggerCondition | None
) -> None:
    assert _refuses({"suffix": suffix}, key) is expected


@pytest.mark.parametrize(
    ("pattern", "content_type", "expected"),
    [
        ("image/*", "image/png", None),
        ("image/*", "image/svg+xml", None),
        ("image/*", "text/plain", TriggerCondition.CONTENT_TYPE),
        ("image/*", "", TriggerCondition.CONTENT_TYPE),
        ("image/jp?g", "image/jpeg", None),
        ("image/jp?g", "image/jpg", TriggerCondition.CONTENT_TYPE),
        ("text/csv", "text/csv", None),
        ("text/csv", "text/csvx", TriggerCondition.CONTENT_TYPE),
        ("*/json", "application/json", None),
    ],
)
def test_the_content_type_is_a_glob(
    pattern: str, content_type: str, expected: TriggerCondition | None
) -> None:
    assert _refuses({"content_type": pattern}, "a", content_type=content_type) is expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (9, TriggerCondition.MIN_SIZE),
        (10, None),
        (20, None),
        (21, TriggerCondition.MAX_SIZE),
    ],
)
def test_size_bounds_are_inclusive(size: int, expected: TriggerCondition | None) -> None:
    assert _refuses({"min_size": 10, "max_size": 20}, "a", size=size) is expected
    assert _pipeline(min_size=10, max_size=20).matches(
        PUT, "inbox", "a", size, "", "anonymous"
    ) is (expected is None)


def test_an_empty_object_meets_a_zero_minimum() -> None:
    assert _refuses({"min_size": 0}, "a", size=0) is None


def test_refuses_ignores_the_event_and_who_wrote() -> None:
    """A reprocess applies the object conditions only: a trigger on removals still
    accepts the object, though no write event would start it."""
    pipeline = _pipeline(events=["ObjectRemoved:*"], suffix=".jpg")
    assert pipeline.refuses("inbox", "a.jpg", 1, "") is None
    assert not pipeline.matches(PUT, "inbox", "a.jpg", 1, "", "anonymous")


def test_refuses_place_of_a_prefix_answers_for_every_key_under_it() -> None:
    pipeline = _pipeline(prefix="photos/", suffix=".jpg")
    assert pipeline.refuses_place("inbox", "photos/2024/") is None
    assert pipeline.refuses_place("inbox", "photo") is TriggerCondition.PREFIX
    assert pipeline.refuses_place("outbox", "photos/") is TriggerCondition.BUCKET


@pytest.mark.parametrize(
    ("principal", "by_default"),
    [
        (ANONYMOUS, True),
        (SYSTEM_PRINCIPAL, True),
        (RequestContext.pipeline("thumbs", "req").principal, False),
        (RequestContext.pipeline("other", "req").principal, False),
        ("user:" + PIPELINE_PRINCIPAL + "x", True),
    ],
)
def test_pipeline_writes_trigger_only_pipelines_that_include_outputs(
    principal: str, by_default: bool
) -> None:
    assert _pipeline().matches(PUT, "inbox", "a", 1, "", principal) is by_default
    assert _pipeline(include_outputs=True).matches(PUT, "inbox", "a", 1, "", principal)


def test_include_outputs_does_not_lift_the_other_conditions() -> None:
    principal = RequestContext.pipeline("thumbs", "req").principal
    loop = _pipeline(include_outputs=True, suffix=".jpg")
    assert not loop.matches(PUT, "inbox", "a.png", 1, "", principal)
    assert not loop.matches("ObjectRemoved:Delete", "inbox", "a.jpg", 1, "", principal)


def test_a_disabled_pipeline_is_checked_but_not_compiled() -> None:
    steps = [{"name": "a", "processor": "noop"}]
    config: dict[str, dict[str, Any]] = {
        "on": {"trigger": {"bucket": "inbox"}, "steps": steps},
        "off": {"trigger": {"bucket": "inbox"}, "steps": steps, "enabled": False},
    }
    assert set(compile_pipelines(load_settings(pipelines=config).pipelines)) == {"on"}
    config["off"]["steps"] = [{"name": "a", "processor": "no.such.processor"}]
    assert _problems(config)[0].startswith("pipelines.off.steps[0] (a).processor:")


def test_content_types_match_whatever_their_case() -> None:
    settings = load_settings(
        pipelines={
            "p": {
                "trigger": {"bucket": "inbox", "content_type": "image/*"},
                "steps": [{"name": "a", "processor": "noop"}],
            }
        }
    )
    pipeline = compile_pipelines(settings.pipelines)["p"]
    assert pipeline.refuses("inbox", "a.jpg", 1, "Image/JPEG") is None
    assert pipeline.refuses("inbox", "a.txt", 1, "text/plain") is not None
