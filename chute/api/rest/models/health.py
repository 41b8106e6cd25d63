"""The liveness and readiness answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from chute.objects.health import ComponentHealth, Readiness


class Health(BaseModel):
    """The server is up, and which Chute it runs."""

    status: Literal["ok"] = "ok"
    version: str


class ComponentView(BaseModel):
    """One dependency: ``ok``, or ``unavailable`` with the error it failed with."""

    status: Literal["ok", "unavailable"]
    code: str | None = None
    message: str | None = None

    @classmethod
    def of(cls, component: ComponentHealth) -> ComponentView:
        if component.error is None:
            return cls(status="ok")
        return cls(status="unavailable", code=component.error.code, message=component.error.message)


class ReadinessView(BaseModel):
    """Whether the server can serve requests now: each dependency's state."""

    status: Literal["ok", "unavailable"]
    version: str
    components: dict[str, ComponentView]

    @classmethod
    def of(cls, readiness: Readiness, version: str) -> ReadinessView:
        return cls(
            status="ok" if readiness.ready else "unavailable",
            version=version,
            components={c.name: ComponentView.of(c) for c in readiness.components},
        )
