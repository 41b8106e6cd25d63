"""The shape of ``[pipelines.<name>]``: a structural problem fails at load with a message
naming the pipeline, step and field."""

from __future__ import annotations

from typing import Any

import pytest

from chute.errors import ConfigError
from chute.settings import load_settings


def _one(steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"thumbs": {"trigger": {"bucket": "inbox"}, "steps": steps, **extra}}


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
