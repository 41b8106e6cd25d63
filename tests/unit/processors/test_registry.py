"""The registry loads processor packages by their entry points: the worked example of a
processor package, ``examples/chute-wordcount``, keeps working.

The example is imported from its source folder rather than installed, so these tests
need no ``pip install``; its entry point is handed to the registry the way
``importlib.metadata`` would hand it over once the package is installed. The example's
own, fuller tests live in ``examples/chute-wordcount/tests``.
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from chute.errors import Reject, UnknownProcessor
from chute.processors import Context, local_context, registry

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "chute-wordcount"
MODULE = "chute_wordcount"
NAME = "text.wordcount"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example's ``src`` on ``sys.path``, with the registry and ``sys.modules`` put
    back afterwards, so no other test sees ``text.wordcount``."""
    registry.known()  # built-ins register in the real registry, before it is copied
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield
    sys.modules.pop(MODULE, None)


@pytest.fixture
def example(example_on_path: None) -> ModuleType:
    """The example package, imported (which registers its processor)."""
    return importlib.import_module(MODULE)


def declared_entry_points() -> dict[str, str]:
    """The example's ``chute.processors`` entry points, as its pyproject.toml declares them."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    entries: dict[str, str] = project["entry-points"][registry.ENTRY_POINT_GROUP]
    return entries


def run(data: bytes, **options: Any) -> Context:
    """Run ``text.wordcount`` as a pipeline step would, on ``notes/todo.txt``."""
    spec = registry.get_processor(NAME)
    ctx = local_context(
        data,
        key="notes/todo.txt",
        content_type="text/plain",
        options=spec.parse_options(options),
        output_template=spec.output_template,
    )
    spec.func(ctx)
    return ctx


def test_the_example_declares_its_processor_as_an_entry_point() -> None:
    assert declared_entry_points() == {NAME: f"{MODULE}:wordcount"}
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert "chute" in project["dependencies"]


@pytest.mark.usefixtures("example_on_path")
def test_the_registry_finds_the_example_by_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry._registry.pop(NAME, None)  # the fixture's copy: in case the example is installed
    installed: list[EntryPoint] = []

    def entry_points(*, group: str) -> list[EntryPoint]:
        return installed if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(UnknownProcessor):
        registry.get_processor(NAME)

    installed.extend(
        EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)
        for name, value in declared_entry_points().items()
    )
    monkeypatch.setattr(registry, "_loaded", False)
    spec = registry.get_processor(NAME)

    assert spec.func is sys.modules[MODULE].wordcount
    assert spec.output_template == "{stem}.wordcount.json"
    assert NAME in registry.known()


def test_the_example_counts_lines_words_and_characters(example: ModuleType) -> None:
    text = "Buy milk.\nBuy bread and milk\nCall Ann"

    ctx = run(text.encode(), top=2, min_length=3)

    [output] = ctx.outputs
    assert output.key == "notes/todo.wordcount.json"
    assert output.content_type == "application/json"
    assert output.data is not None
    document = json.loads(output.data)
    assert (document["lines"], document["words"], document["characters"]) == (3, 8, len(text))
    assert document["top"] == [{"word": "buy", "count": 2}, {"word": "milk", "count": 2}]
    assert ctx.metadata == {"wordcount": {"lines": 3, "words": 8, "characters": len(text)}}
    assert ctx.report == {"distinct_words": 6}


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty file"), (b"caf\xe9 latin-1", "not UTF-8 text: invalid continuation byte")],
)
def test_the_example_rejects_what_is_not_text(data: bytes, reason: str) -> None:
    with pytest.raises(Reject, match=reason):
        run(data)


@pytest.mark.usefixtures("example")
def test_the_example_validates_its_options() -> None:
    spec = registry.get_processor(NAME)

    with pytest.raises(ValidationError, match="top"):
        spec.parse_options({"top": -1})
