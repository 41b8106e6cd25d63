"""The liveness answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Health(BaseModel):
    """The server is up, and which Chute it runs."""

    status: Literal["ok"] = "ok"
    version: str
