"""Processors by name: built-ins, the ``@processor`` decorator, and installed packages.

A package adds processors by declaring an entry point in the ``chute.processors`` group
whose value is a decorated function (``thumbs = "acme.chute:thumbnail"``); the pipeline
config then names it like a built-in. Entry points load lazily, the first time a name is
looked up, so an installed package costs nothing until a pipeline uses it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel

from chute.errors import UnknownProcessor

ENTRY_POINT_GROUP = "chute.processors"
#: Modules holding the built-in processors (:mod:`chute.processors.builtin`), imported
#: when a name is first looked up.
BUILTIN_MODULES = (
    "chute.processors.builtin.image",
    "chute.processors.builtin.meta",
    "chute.processors.builtin.data",
    "chute.processors.builtin.pdf",
    "chute.processors.builtin.webhook",
    "chute.processors.builtin.basic",
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """A batch processor gets up to ``size`` jobs together, waiting at most ``wait_ms``
    for a batch to fill."""

    size: int
    wait_ms: int


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """A registered processor."""

    name: str
    func: Callable[..., Any]
    #: Pydantic model that validates the step's ``options`` at start-up.
    options: type[BaseModel] | None = None
    #: Key template for outputs when the step names none.
    output_template: str = "{stem}/{step}"
    batch: BatchSpec | None = None

    def parse_options(self, raw: dict[str, Any]) -> Any:
        """Validated options (raises pydantic's ``ValidationError``)."""
        if self.options is None:
            if raw:
                raise ValueError(f"processor {self.name!r} takes no options")
            return None
        return self.options.model_validate(raw)


_registry: dict[str, ProcessorSpec] = {}
_lock = threading.Lock()
_loaded = False


def processor(
    name: str,
    *,
    options: type[BaseModel] | None = None,
    output_template: str = "{stem}/{step}",
    batch_size: int | None = None,
    batch_wait_ms: int = 100,
) -> Callable[[F], F]:
    """Register a function as the processor ``name``.

    The function takes a :class:`~chute.processors.base.Context`; with ``batch_size`` it
    takes a list of up to that many contexts instead, gathered for at most
    ``batch_wait_ms``."""

    def register(func: F) -> F:
        batch = BatchSpec(batch_size, batch_wait_ms) if batch_size else None
        spec = ProcessorSpec(name, func, options, output_template, batch)
        func.__chute_processor__ = spec  # type: ignore[attr-defined]
        with _lock:
            _registry[name] = spec
        return func

    return register


def get_processor(name: str) -> ProcessorSpec:
    """The processor registered as ``name``; raises ``UnknownProcessor``."""
    _load_all()
    with _lock:
        spec = _registry.get(name)
    if spec is None:
        raise UnknownProcessor(f"no processor named {name!r}; known: {', '.join(known())}")
    return spec


def known() -> list[str]:
    """Every processor name available, sorted."""
    _load_all()
    with _lock:
        return sorted(_registry)


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        target = entry.load()
        spec = getattr(target, "__chute_processor__", None)
        if spec is None:  # a plain function: register it under the entry point's name
            processor(entry.name)(target)
        elif spec.name != entry.name:
            with _lock:
                _registry[entry.name] = spec
    _loaded = True


def import_modules(modules: list[str]) -> list[str]:
    """Import processor modules; returns a problem per module that fails."""
    problems = []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            problems.append(f"worker.modules: cannot import {module!r}: {exc}")
    return problems
