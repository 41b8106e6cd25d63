"""The MIME type of an object, sniffed from the first bytes of its content, and whether
the type it was declared with contradicts it (``meta.extract``'s ``mime`` and
``type_mismatch`` fields)."""

from __future__ import annotations

import codecs
import csv
import json
import re

#: Bytes of the head the MIME type is sniffed from (magic numbers and text heuristics).
HEAD_BYTES = 64 * 1024
#: Lines of a text head the NDJSON and CSV heuristics look at.
SAMPLE_LINES = 50
EMPTY = "application/x-empty"
UNKNOWN = "application/octet-stream"

#: Spellings of one type, mapped to the one ``mime`` reports.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-ms-bmp": "image/bmp",
    "audio/wave": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "application/x-gzip": "application/gzip",
    "application/x-pdf": "application/pdf",
    "application/jsonl": "application/x-ndjson",
    "application/ndjson": "application/x-ndjson",
}
#: When one signature fits several types (a ZIP may be a .docx, .jar, .odt...), this wins.
_GENERIC = frozenset({"application/zip"})
#: Control characters that make a UTF-8 head binary (tab, newlines, form feed, ESC are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
#: The start of a JSON document cut short: an object with a string key, or an array of
#: containers, strings, or numbers and literals followed by ``,`` or ``]``.
_JSON_START = re.compile(
    r'\s*(?:\{\s*["}]|\[\s*(?:[\[{"\]]|(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)\s*[,\]]))'
)


def sniff_mime(head: bytes, *, complete: bool) -> str:
    """The MIME type of content starting with ``head`` (``complete``: it is all of it).

    Magic numbers (puremagic) decide for binary content. A head that is UTF-8 text (no
    control characters other than whitespace and ESC) takes a magic match only when the
    signature is 4+ bytes (HTML, XML, SVG, PDF, PostScript...), else: ``application/json``
    when a whole object or array parses (or a cut-off head starts like one),
    ``application/x-ndjson`` when 2+ lines each parse as an object or array, ``text/csv``
    (``text/tab-separated-values``) when 2+ lines split into the same number (2 or more) of
    fields on one of ``, ; TAB |``, and ``text/plain`` otherwise. Anything else unknown is
    ``application/octet-stream``; no bytes at all is ``application/x-empty``."""
    if not head:
        return EMPTY
    text = _as_text(head, complete)
    magic = _magic_mime(head, min_confidence=0.4 if text is not None else 0.0)
    if magic is not None:
        return magic
    return UNKNOWN if text is None else _text_mime(text, complete)


def normalise_type(mime: str) -> str:
    """``mime`` without parameters, lower case, with aliases resolved (``image/jpg`` is
    ``image/jpeg``)."""
    bare = mime.partition(";")[0].strip().lower()
    return _ALIASES.get(bare, bare)


def _as_text(head: bytes, complete: bool) -> str | None:
    # an incremental decoder tolerates a character cut in two at the end of the head
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


def _magic_mime(head: bytes, *, min_confidence: float) -> str | None:
    import puremagic

    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        return None
    ranked = [match for match in matches if match.mime_type and match.confidence >= min_confidence]
    if not ranked:
        return None
    best = [match.mime_type for match in ranked if match.confidence == ranked[0].confidence]
    return normalise_type(next((mime for mime in best if mime in _GENERIC), best[0]))


def _text_mime(text: str, complete: bool) -> str:
    lines = _whole_lines(text, complete)
    if complete and _is_json_container(text):
        return "application/json"
    if _is_ndjson(lines):
        return "application/x-ndjson"
    if not complete and _JSON_START.match(text):
        return "application/json"
    return _csv_mime(lines) or "text/plain"


def _whole_lines(text: str, complete: bool) -> list[str]:
    lines = text.splitlines()
    if not complete:
        lines = lines[:-1]  # the last line of a cut-off head is partial
    return [line for line in lines[:SAMPLE_LINES] if line.strip()]


def _is_json_container(text: str) -> bool:
    if text.lstrip()[:1] not in ("{", "["):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _is_ndjson(lines: list[str]) -> bool:
    return len(lines) >= 2 and all(_is_json_container(line) for line in lines)


def _csv_mime(lines: list[str]) -> str | None:
    if len(lines) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
        widths = {len(fields) for fields in csv.reader(lines, dialect)}
    except csv.Error:
        return None
    if len(widths) != 1 or widths.pop() < 2:
        return None
    return "text/tab-separated-values" if dialect.delimiter == "\t" else "text/csv"


# --- declared versus sniffed ----------------------------------------------------------

#: Declared types that say nothing about the content.
_UNDECLARED = frozenset({"", UNKNOWN, "binary/octet-stream", EMPTY})
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/xml",
        "application/javascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/sql",
        "application/x-sh",
    }
)
_ZIP_PREFIXES = (
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
    "application/vnd.ms-excel.",
    "application/vnd.ms-word.",
    "application/vnd.ms-powerpoint.",
)
_ZIP_TYPES = frozenset(
    {"application/zip", "application/java-archive", "application/vnd.android.package-archive"}
)
_MEDIA_FAMILIES = {
    "audio/mp4": "mp4",
    "video/mp4": "mp4",
    "video/quicktime": "mp4",
    "video/3gpp": "mp4",
    "audio/3gpp": "mp4",
    "audio/webm": "matroska",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "audio/x-matroska": "matroska",
    "audio/opus": "ogg",
}


def type_mismatch(sniffed: str, declared: str) -> bool:
    """Whether the declared type contradicts the sniffed one.

    Types are compared by family: all text types are one (sniffing cannot reliably tell
    CSV from plain text, or Markdown from either), all ZIP-based formats are one (a .docx
    is a ZIP), MP4/QuickTime, Matroska/WebM and Ogg variants are one each, and any other
    type is its own. A declared type that says nothing (empty, ``application/octet-stream``)
    or content of unknown type never mismatches."""
    sniffed_family, declared_family = _family(sniffed), _family(declared)
    if sniffed_family is None or declared_family is None:
        return False
    return sniffed_family != declared_family


def _family(mime: str) -> str | None:
    mime = normalise_type(mime)
    if mime in _UNDECLARED:
        return None
    if mime.startswith("text/") or mime.endswith(("+json", "+xml")) or mime in _TEXT_TYPES:
        return "text"
    if mime in _ZIP_TYPES or mime.endswith("+zip") or mime.startswith(_ZIP_PREFIXES):
        return "zip"
    if "ogg" in mime:
        return "ogg"
    return _MEDIA_FAMILIES.get(mime, mime)
