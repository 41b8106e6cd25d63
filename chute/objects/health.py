"""Whether the object service can work now: the server's readiness check.

Each component the service depends on (the catalog database, the blob store) is probed
with the smallest operation that proves it answers. A component that fails reports the
error it failed with, by the same code and status a request would have got.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chute.errors import ChuteError


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One dependency's state: ``error`` is ``None`` when it answered."""

    name: str
    error: ChuteError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Readiness:
    """Every dependency's state; ready when all answered."""

    components: tuple[ComponentHealth, ...]

    @property
    def ready(self) -> bool:
        return all(component.ok for component in self.components)


def probe(name: str, check: Callable[[], None]) -> ComponentHealth:
    """Run ``check``; an exception is the component's error (a bug shows as one too)."""
    try:
        check()
    except ChuteError as exc:
        return ComponentHealth(name, exc)
    except Exception as exc:
        return ComponentHealth(name, ChuteError(f"{type(exc).__name__}: {exc}"))
    return ComponentHealth(name)
