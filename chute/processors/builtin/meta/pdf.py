"""The ``pdf`` section of ``meta.extract``: page count, title, author and encryption,
read with pypdf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chute.processors.builtin.meta.section import MetaOptions, clean_text, describe


def pdf_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    """The PDF's section; a problem part-way keeps what was read, with an ``error``."""
    from pypdf import PdfReader

    section: dict[str, Any] = {"pages": None, "title": None, "author": None, "encrypted": None}
    try:
        with path.open("rb") as handle:  # a file handle, so pypdf reads lazily
            _read_pdf(PdfReader(handle), section, options.max_text_length)
    except Exception as exc:  # keep what was read before the problem
        section["error"] = describe(exc, options.max_text_length)
    return section


def _read_pdf(reader: Any, section: dict[str, Any], limit: int) -> None:
    section["encrypted"] = bool(reader.is_encrypted)
    # many PDFs are encrypted with an owner password only: the empty user password opens them
    if reader.is_encrypted and not reader.decrypt(""):
        section["error"] = "encrypted: a password is needed to read it"
        return
    section["pages"] = len(reader.pages)
    info = reader.metadata
    if info is not None:
        section["title"] = clean_text(str(info.title), limit) if info.title else None
        section["author"] = clean_text(str(info.author), limit) if info.author else None
