"""``[functions.NAME]`` and function steps as chute.toml states them, and every broken
one refused with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from chute.errors import ConfigError
from chute.functions.definitions import configured
from chute.pipelines.model import compile_pipelines
from chute.settings import ConfiguredFunction, FunctionConfig, load_settings

CODE = str(Path(__file__).parent)


def test_lambdas_defaults() -> None:
    config = FunctionConfig(handler="app.handler")
    assert (config.memory_mb, config.timeout_seconds) == (128, 3.0)
    assert (config.maximum_retry_attempts, config.maximum_event_age_seconds) == (2, 21600)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"handler": "nodot"}, "must be MODULE.FUNCTION"),
        ({"handler": "app."}, "must be MODULE.FUNCTION"),
        ({"memory_mb": 64}, "greater than or equal to 128"),
        ({"memory_mb": 20000}, "less than or equal to 10240"),
        ({"timeout_seconds": 901}, "less than or equal to 900"),
        ({"runtime": "nodejs20.x"}, "is not a Python runtime"),
        ({"maximum_retry_attempts": 3}, "less than or equal to 2"),
        ({"permissions": [{"bucket": "b", "access": "admin"}]}, "'read' or 'write'"),
    ],
)
def test_broken_functions_are_refused(changes: dict[str, object], message: str) -> None:
    function = {"handler": "app.handler", "code": CODE, **changes}
    with pytest.raises(ConfigError, match=message):
        load_settings(functions={"f": function})


def test_function_names_follow_lambdas_rules() -> None:
    with pytest.raises(ConfigError, match=r"function 'a\.b'"):
        load_settings(functions={"a.b": {"handler": "app.handler", "code": CODE}})


def test_a_step_names_a_processor_or_a_function() -> None:
    trigger = {"bucket": "in"}
    for step in (
        {"name": "s", "processor": "noop", "function": "f"},
        {"name": "s"},
        {"name": "s", "function": "f", "options": {"x": 1}},
    ):
        with pytest.raises(ConfigError):
            load_settings(pipelines={"p": {"trigger": trigger, "steps": [step]}})


def test_a_function_step_names_a_function_that_exists() -> None:
    settings = load_settings(
        pipelines={"p": {"trigger": {"bucket": "in"}, "steps": [{"name": "s", "function": "f"}]}}
    )
    with pytest.raises(ConfigError, match=r"steps\[0\] \(s\)\.function: no function named 'f'"):
        compile_pipelines(settings.pipelines, functions={})
    config = ConfiguredFunction(handler="app.handler", code=Path(CODE), timeout_seconds=30)
    functions = {"f": configured("f", config, "us-east-1")}
    (step,) = compile_pipelines(settings.pipelines, functions=functions)["p"].steps.values()
    assert step.processor.name == "function.invoke"
    assert step.timeout_seconds > 30  # the function's timeout, its cold start and a margin
    assert step.memory_mb == 0
