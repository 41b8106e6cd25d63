"""``meta.extract``: what an object really is, read from its bytes, kept as catalog metadata.

The step stores one JSON object on the source version (``ctx.metadata``); its fields are a
stable interface, since pipelines and catalog queries filter on them:

- ``mime``: the type sniffed from the content, never from the key or the declared type
  (see :func:`sniff_mime`); ``application/x-empty`` for a 0-byte object.
- ``declared_type``: the content type the object was uploaded with.
- ``type_mismatch``: ``true`` when the sniffed and declared types belong to different
  families (see :func:`type_mismatch`).
- ``size``, ``sha256``: computed by streaming the content.
- ``image`` (``image/*``): ``width``, ``height`` (as stored, before EXIF rotation),
  ``format`` (the libvips loader: ``jpeg``, ``png``...), ``bands``, ``has_alpha``,
  ``orientation`` (EXIF 1-8, or ``null``), ``exif`` (a readable subset, see
  :data:`EXIF_TAGS`; ``{}`` when absent), ``gps`` (``latitude``/``longitude`` in decimal
  degrees, negative south and west, ``altitude`` in metres or ``null``; ``null`` when absent).
- ``pdf`` (``application/pdf``): ``pages``, ``title``, ``author``, ``encrypted``.
- ``media`` (``audio/*``, ``video/*``): ``container``, ``codec``, ``duration_seconds``,
  ``bitrate`` (bits/s), ``sample_rate``, ``channels``, ``bits_per_sample``, as mutagen reads
  them. There is no ffprobe here: for video only the container's audio track and overall
  duration are known.
- ``errors``: one ``"<section>: <problem>"`` line per thing that could not be read.

A section is present only for matching types. One that cannot be read at all is ``null``;
one read in part carries an ``error`` field. A parse problem never fails the step: the
object is whatever its bytes are, and the record says what could not be read. Images are
opened header-only, so a decompression bomb costs nothing here.

The type is sniffed in :mod:`~chute.processors.builtin.meta.mime`; each section has a
reader module of its own (``image``, ``pdf``, ``media``), sharing
:mod:`~chute.processors.builtin.meta.section`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chute.jobs import SourceObject
from chute.processors.base import CHUNK, Context
from chute.processors.builtin.meta.image import EXIF_TAGS, ExifValue, exif_value, image_section
from chute.processors.builtin.meta.media import media_section
from chute.processors.builtin.meta.mime import (
    EMPTY,
    HEAD_BYTES,
    UNKNOWN,
    normalise_type,
    sniff_mime,
    type_mismatch,
)
from chute.processors.builtin.meta.pdf import pdf_section
from chute.processors.builtin.meta.section import MetaOptions, SectionReader, describe
from chute.processors.registry import processor

__all__ = [
    "EMPTY",
    "EXIF_TAGS",
    "HEAD_BYTES",
    "UNKNOWN",
    "ExifValue",
    "MetaOptions",
    "exif_value",
    "extract",
    "normalise_type",
    "sniff_mime",
    "type_mismatch",
]

_READERS: dict[str, SectionReader] = {
    "image": image_section,
    "pdf": pdf_section,
    "media": media_section,
}


@processor("meta.extract", options=MetaOptions)
def extract(ctx: Context) -> None:
    """Sniff the type, hash the content and read image, PDF or media properties into
    ``ctx.metadata`` (schema in the module docstring); ``ctx.report`` summarises."""
    options = ctx.options if isinstance(ctx.options, MetaOptions) else MetaOptions()
    size, sha256, head = _digest(ctx)
    errors = _digest_problems(ctx.source, size, sha256)
    mime = sniff_mime(head, complete=len(head) == size)
    declared = ctx.source.content_type
    metadata: dict[str, Any] = {
        "mime": mime,
        "declared_type": declared,
        "type_mismatch": type_mismatch(mime, declared),
        "size": size,
        "sha256": sha256,
    }
    section = _section_for(mime)
    if section is not None:
        metadata[section] = _run_section(ctx, section, options, errors)
    metadata["errors"] = errors
    ctx.metadata.update(metadata)
    ctx.report.update({"mime": mime, "found": _found(metadata), "errors": len(errors)})


def _digest(ctx: Context) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = bytearray()
    with ctx.open() as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
    return size, digest.hexdigest(), bytes(head)


def _digest_problems(source: SourceObject, size: int, sha256: str) -> list[str]:
    problems = []
    if source.sha256 and source.sha256.lower() != sha256:
        problems.append(f"content: sha256 {sha256} differs from the recorded {source.sha256}")
    if source.size != size:
        problems.append(f"content: {size} bytes read, {source.size} recorded")
    return problems


def _found(metadata: dict[str, Any]) -> list[str]:
    found = [name for name in ("image", "pdf", "media") if metadata.get(name)]
    image = metadata.get("image") or {}
    return found + [name for name in ("exif", "gps") if image.get(name)]


def _section_for(mime: str) -> str | None:
    kind = mime.partition("/")[0]
    if kind == "image" and not mime.endswith("+xml"):
        return "image"
    if mime == "application/pdf":
        return "pdf"
    if kind in ("audio", "video") or mime == "application/ogg":
        return "media"
    return None


def _run_section(
    ctx: Context, name: str, options: MetaOptions, errors: list[str]
) -> dict[str, Any] | None:
    path = ctx.path()  # outside the try: failing to fetch the object is not a parse problem
    try:
        section = _READERS[name](path, options)
    except Exception as exc:  # an optional section never fails the step
        errors.append(f"{name}: {describe(exc, options.max_text_length)}")
        return None
    if section.get("error"):
        errors.append(f"{name}: {section['error']}")
    return section
