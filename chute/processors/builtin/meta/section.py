"""What the section readers of ``meta.extract`` (image, PDF, media) share: the step's
options, a reader's signature, and text made storable in the record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MetaOptions(BaseModel):
    """Options of ``meta.extract``."""

    model_config = ConfigDict(extra="forbid")

    #: Record the readable EXIF subset of images.
    exif: bool = True
    #: Record the GPS position of images (turn off to keep locations out of the catalog).
    gps: bool = True
    #: Longer text values (EXIF strings, PDF titles, error messages) are cut to this length.
    max_text_length: int = Field(default=256, ge=16, le=65536)


#: Reads one section from a local copy of the object; raises if it cannot read it at all.
SectionReader = Callable[[Path, MetaOptions], dict[str, Any]]


def describe(exc: BaseException, limit: int) -> str:
    """``exc`` as one storable line for the record's ``errors``: its type and message."""
    # pyvips keeps libvips' own explanation apart from its message
    text = " ".join(f"{exc} {getattr(exc, 'detail', '')}".split()) or "no details"
    return clean_text(f"{type(exc).__name__}: {text}", limit)


def clean_text(value: str, limit: int) -> str:
    """``value`` storable in a JSON column: no NUL, no lone surrogate, at most ``limit``
    characters (cut ones end with an ellipsis)."""
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"
