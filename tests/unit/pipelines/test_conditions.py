"""``when`` conditions: compiled (or refused, in one line naming the pipeline and step)
when the configuration is loaded; evaluated with JMESPath's truth against the document
built from a run's source and the steps upstream; failures are ConditionErrors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chute.errors import ConditionError, ConfigError
from chute.pipelines.conditions import Condition, condition_document, truthy
from chute.pipelines.model import compile_pipelines
from chute.queue.records import ClaimSource, Job, StepRun
from chute.queue.states import JobKind, JobState, Outcome
from chute.settings import load_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a.png", "size": 5}}}


def _pipelines(big: str, **first: Any) -> dict[str, Any]:
    steps = [
        {"name": "meta", "processor": "meta.extract", **first},
        {"name": "big", "processor": "copy", "needs": ["meta"], "when": big},
    ]
    return {"images": {"trigger": {"bucket": "inbox"}, "steps": steps}}


def _problems(pipelines: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        compile_pipelines(load_settings(pipelines=pipelines).pipelines)
    return caught.value.problems


# --- compiling ------------------------------------------------------------------------


def test_a_condition_compiles_with_the_step() -> None:
    config = _pipelines("metadata.image.width > `2000`")
    pipeline = compile_pipelines(load_settings(pipelines=config).pipelines)["images"]
    when = pipeline.steps["big"].when
    assert when is not None
    assert when.expression == "metadata.image.width > `2000`"
    assert pipeline.steps["meta"].when is None


def test_a_condition_that_does_not_compile_is_refused_at_load_naming_pipeline_and_step() -> None:
    (problem,) = _problems(_pipelines("metadata.image.width >"))
    assert problem == (
        "pipelines.images.steps[1] (big).when: not a JMESPath expression: it ends too soon"
    )


def test_every_broken_condition_is_reported_at_once() -> None:
    problems = _problems(_pipelines("nope(metadata)", when="a ~ b"))
    assert problems == [
        "pipelines.images.steps[0] (meta).when: not a JMESPath expression: "
        "Unknown token ~ at column 3",
        "pipelines.images.steps[1] (big).when: JMESPath has no function nope()",
    ]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "not a JMESPath expression: it is empty"),
        ("a ==== b", "not a JMESPath expression: invalid token at column 5 ('==')"),
        ('"unclosed', 'not a JMESPath expression: Unclosed " delimiter at column 1'),
        ("lenght(steps)", "JMESPath has no function lenght()"),
        ("steps.meta.outputs | length(@, @)", "length() takes 1 argument(s), not 2"),
        ("not_null()", "not_null() takes at least 1 arguments, not 0"),
        ("[?a > `1`] | abs(foo(@))", "JMESPath has no function foo()"),
        ("object.content_type == `image/png`", "a `literal` holds JSON"),
    ],
)
def test_what_does_not_compile_says_why_in_one_line(expression: str, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        Condition.compile(expression)
    assert caught.value.message.startswith(reason)
    assert "\n" not in caught.value.message


def test_calls_with_the_right_arguments_compile() -> None:
    assert Condition.compile("not_null(a, b, c)").holds({"c": 1})
    assert Condition.compile("length(steps) == `2`").holds({"steps": {"a": 1, "b": 2}})


# --- truth ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (True, True),
        (0, True),  # JMESPath's truth, not Python's
        (0.0, True),
        ("no", True),
        ([0], True),
        ({"a": None}, True),
    ],
)
def test_jmespath_truth(value: object, expected: bool) -> None:
    assert truthy(value) is expected


def test_the_readme_example() -> None:
    when = Condition.compile("metadata.image.width > `2000`")
    assert when.holds({"metadata": {"image": {"width": 4000}}})
    assert not when.holds({"metadata": {"image": {"width": 640}}})
    assert when.unmet == "condition not met: metadata.image.width > `2000`"


def test_metadata_that_does_not_exist_is_false() -> None:
    when = Condition.compile("metadata.image.width > `2000`")
    assert not when.holds({"metadata": {}, "steps": {}})
    assert not when.holds({})


def test_ordering_null_or_a_boolean_against_a_number_is_false() -> None:
    when = Condition.compile("metadata.w > `1`")
    assert not when.holds({"metadata": {"w": None}})
    assert not when.holds({"metadata": {"w": True}})


def test_ordering_a_string_against_a_number_is_an_error_naming_the_condition() -> None:
    # jmespath 1.x orders strings among themselves, and raises on a string and a number
    when = Condition.compile("metadata.w > `1`")
    with pytest.raises(ConditionError) as caught:
        when.holds({"metadata": {"w": "wide"}})
    message = caught.value.message
    assert message.startswith("condition metadata.w > `1` could not be evaluated:")
    assert "orders values of different types" in message


def test_a_function_given_the_wrong_type_is_an_error() -> None:
    when = Condition.compile("abs(object.metadata.rank) > `1`")
    with pytest.raises(ConditionError) as caught:
        when.holds({"object": {"metadata": {"rank": "high"}}})
    assert "JMESPathTypeError: In function abs(), invalid type" in caught.value.message


# --- the document -------------------------------------------------------------------------


def _source(**fields: Any) -> ClaimSource:
    values: dict[str, Any] = {
        "run_id": 7,
        "bucket": "inbox",
        "key": "a.png",
        "version_id": "v1",
        "event_json": json.dumps(EVENT),
        "blob_id": "b1",
        "size": 5,
        "etag": '"etag"',
        "sha256": "sha",
        "content_type": "image/png",
        "user_metadata": {"owner": "ann"},
        "blob_kind": None,
        "location": None,
        "md5": "md5",
        "inline": b"bytes",
    }
    return ClaimSource(**{**values, **fields})


def _job(step: str, state: JobState = JobState.SUCCEEDED) -> Job:
    return Job(
        1, 7, JobKind.STEP, "images", step, "inbox", "a.png", [], {}, state, 1, 3,
        T0, None, None, None, T0, T0, T0, None, None,
    )  # fmt: skip


def _attempt(step_run_id: int, outcome: Outcome = Outcome.SUCCEEDED, **report: Any) -> StepRun:
    return StepRun(step_run_id, 1, 1, "w", outcome, T0, T0, None, report)


def test_the_document_holds_the_event_and_the_object() -> None:
    document = condition_document(_source(), [])
    assert document == {
        "event": EVENT,
        "object": {
            "bucket": "inbox",
            "key": "a.png",
            "version_id": "v1",
            "size": 5,
            "etag": '"etag"',
            "sha256": "sha",
            "content_type": "image/png",
            "metadata": {"owner": "ann"},
        },
        "metadata": {},
        "steps": {},
    }


def test_upstream_metadata_merges_in_the_order_it_was_recorded() -> None:
    later = _attempt(9, metadata={"image": {"width": 10}, "mime": "image/png"})
    earlier = _attempt(3, metadata={"image": {"width": 99}, "sha256": "x"}, outputs=["a.txt"])
    document = condition_document(_source(), [(_job("late"), later), (_job("early"), earlier)])
    assert document["metadata"] == {"image": {"width": 10}, "mime": "image/png", "sha256": "x"}
    assert document["steps"]["early"] == {
        "status": "succeeded",
        "metadata": {"image": {"width": 99}, "sha256": "x"},
        "outputs": ["a.txt"],
    }
    assert Condition.compile("steps.early.outputs[0] == 'a.txt'").holds(document)


def test_a_skipped_step_upstream_shows_no_outputs_or_metadata() -> None:
    skipped = StepRun(4, 1, 1, "w", Outcome.SKIPPED, T0, T0, "condition not met: x", {})
    document = condition_document(_source(), [(_job("big", JobState.SKIPPED), skipped)])
    assert document["steps"] == {"big": {"status": "skipped", "metadata": {}, "outputs": []}}
    assert Condition.compile("steps.big.status == 'skipped'").holds(document)
    assert not Condition.compile("steps.big.outputs").holds(document)


def test_a_report_not_shaped_as_chute_writes_it_is_read_as_empty() -> None:
    odd = _attempt(2, metadata="not a dict", outputs="not a list")
    document = condition_document(_source(), [(_job("odd"), odd), (_job("none"), None)])
    assert document["metadata"] == {}
    assert document["steps"]["odd"] == {"status": "succeeded", "metadata": {}, "outputs": []}
    assert document["steps"]["none"]["metadata"] == {}


def test_a_version_gone_leaves_nulls_in_the_object() -> None:
    document = condition_document(_source(size=None, etag=None, user_metadata=None), [])
    assert document["object"]["size"] is None
    assert document["object"]["metadata"] == {}
    assert Condition.compile("object.size == null").holds(document)


# --- upstream ---------------------------------------------------------------------------


def test_upstream_is_every_step_needed_directly_or_not() -> None:
    steps = [
        {"name": "a", "processor": "noop"},
        {"name": "b", "processor": "noop", "needs": ["a"]},
        {"name": "c", "processor": "noop"},
        {"name": "d", "processor": "noop", "needs": ["b", "c"]},
        {"name": "e", "processor": "noop"},
    ]
    config = {"p": {"trigger": {"bucket": "inbox"}, "steps": steps}}
    pipeline = compile_pipelines(load_settings(pipelines=config).pipelines)["p"]
    assert pipeline.upstream("d") == {"a", "b", "c"}
    assert pipeline.upstream("b") == {"a"}
    assert pipeline.upstream("e") == frozenset()
    assert pipeline.upstream("gone") == frozenset()


def test_a_condition_in_chute_toml_is_checked_as_the_file_loads(tmp_path: Any) -> None:
    config = tmp_path / "chute.toml"
    config.write_text(
        "[pipelines.images]\n"
        'trigger = { bucket = "inbox" }\n'
        "[[pipelines.images.steps]]\n"
        'name = "meta"\n'
        'processor = "meta.extract"\n'
        "[[pipelines.images.steps]]\n"
        'name = "big"\n'
        'processor = "copy"\n'
        'needs = ["meta"]\n'
        'when = "metadata.image.width > `2000` &&"\n'
    )
    with pytest.raises(ConfigError) as caught:
        compile_pipelines(load_settings(config).pipelines)
    assert caught.value.problems == [
        "pipelines.images.steps[1] (big).when: not a JMESPath expression: it ends too soon"
    ]
