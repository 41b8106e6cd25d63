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
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chute.jobs import SourceObject
from chute.processors.base import CHUNK, Context
from chute.processors.registry import processor

#: Bytes of the head the MIME type is sniffed from (magic numbers and text heuristics).
HEAD_BYTES = 64 * 1024
#: Lines of a text head the NDJSON and CSV heuristics look at.
SAMPLE_LINES = 50
EMPTY = "application/x-empty"
UNKNOWN = "application/octet-stream"

ExifValue = str | int | float | list[int | float] | None


class MetaOptions(BaseModel):
    """Options of ``meta.extract``."""

    model_config = ConfigDict(extra="forbid")

    #: Record the readable EXIF subset of images.
    exif: bool = True
    #: Record the GPS position of images (turn off to keep locations out of the catalog).
    gps: bool = True
    #: Longer text values (EXIF strings, PDF titles, error messages) are cut to this length.
    max_text_length: int = Field(default=256, ge=16, le=65536)


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


# --- MIME type ------------------------------------------------------------------------

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


# --- sections -------------------------------------------------------------------------


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
        errors.append(f"{name}: {_describe(exc, options.max_text_length)}")
        return None
    if section.get("error"):
        errors.append(f"{name}: {section['error']}")
    return section


def _describe(exc: BaseException, limit: int) -> str:
    # pyvips keeps libvips' own explanation apart from its message
    text = " ".join(f"{exc} {getattr(exc, 'detail', '')}".split()) or "no details"
    return _clean_text(f"{type(exc).__name__}: {text}", limit)


def _clean_text(value: str, limit: int) -> str:
    """``value`` storable in a JSON column: no NUL, no lone surrogate, at most ``limit``
    characters (cut ones end with an ellipsis)."""
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _finite(value: object, digits: int = 3) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return round(float(value), digits)
    return None


# --- images ---------------------------------------------------------------------------

#: The EXIF subset ``image.exif`` reports: its name there, and the libvips fields it is
#: read from (first present wins).
EXIF_TAGS: dict[str, tuple[str, ...]] = {
    "Make": ("exif-ifd0-Make",),
    "Model": ("exif-ifd0-Model",),
    "Software": ("exif-ifd0-Software",),
    "Copyright": ("exif-ifd0-Copyright",),
    "DateTime": ("exif-ifd0-DateTime",),
    "DateTimeOriginal": ("exif-ifd2-DateTimeOriginal",),
    "ExposureTime": ("exif-ifd2-ExposureTime",),
    "FNumber": ("exif-ifd2-FNumber",),
    "ISO": ("exif-ifd2-ISOSpeedRatings", "exif-ifd2-PhotographicSensitivity"),
    "FocalLength": ("exif-ifd2-FocalLength",),
    "LensMake": ("exif-ifd2-LensMake",),
    "LensModel": ("exif-ifd2-LensModel",),
}
#: libvips renders an EXIF field as ``<raw> (<text>, <Format>, <n> components, <m> bytes)``.
_EXIF_TRAILER = re.compile(
    r"^(?P<body>.*), (?P<format>[A-Za-z]+), (?P<count>\d+) components?, \d+ bytes?\)$",
    re.DOTALL,
)
#: Formats whose raw part libvips writes as numbers (``12 ``, ``51/1 30/1 0/1 ``).
_NUMERIC_FORMATS = frozenset({"Short", "SShort", "Long", "SLong", "Rational", "SRational"})


def _image_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    import pyvips  # type: ignore[import-untyped, unused-ignore]

    # sequential access reads the header only: no pixel is decoded here
    image = pyvips.Image.new_from_file(str(path), access="sequential")
    fields = set(image.get_fields())
    section: dict[str, Any] = {
        "width": image.width,
        "height": image.height,
        "format": _loader_format(str(image.get("vips-loader")))
        if "vips-loader" in fields
        else None,
        "bands": image.bands,
        "has_alpha": bool(image.hasalpha()),
        "orientation": int(image.get("orientation")) if "orientation" in fields else None,
        "exif": {},
        "gps": None,
    }
    tags = {name: str(image.get(name)) for name in fields if name.startswith("exif-ifd")}
    _add_exif(section, tags, options)
    return section


def _loader_format(loader: str) -> str:
    return re.sub(r"load(_\w+)?$", "", loader)


def _add_exif(section: dict[str, Any], tags: dict[str, str], options: MetaOptions) -> None:
    if options.exif:
        section["exif"] = _exif_subset(tags, options.max_text_length)
    if options.gps:
        try:
            section["gps"] = _gps(tags)
        except ValueError as exc:
            section["error"] = f"gps: {exc}"


def _exif_subset(tags: dict[str, str], limit: int) -> dict[str, ExifValue]:
    subset: dict[str, ExifValue] = {}
    for name, fields in EXIF_TAGS.items():
        values = (exif_value(tags[field]) for field in fields if field in tags)
        value = next((value for value in values if value not in (None, "")), None)
        if value is not None:
            subset[name] = _clean_text(value, limit) if isinstance(value, str) else value
    return subset


def exif_value(text: str) -> ExifValue:
    """The value of a libvips EXIF field such as ``"51/1 30/1 0/1 (51, 30, 0, Rational, 3
    components, 24 bytes)"``: a number or list of numbers for integer and rational formats
    (``None`` if a denominator is 0), else the text (``"Acme"``)."""
    match = _EXIF_TRAILER.match(text)
    if match is None:
        return text.strip() or None
    body = match["body"]
    if match["format"] in _NUMERIC_FORMATS and int(match["count"]) < 10:
        return _numbers(body.partition(" (")[0])
    # for other formats the raw part and the text are the same string: "<s> (<s>"
    half = (len(body) - 2) // 2
    if body[half : half + 2] == " (" and body[:half] == body[half + 2 :]:
        return body[:half].strip()
    return body.partition(" (")[0].strip()


def _numbers(raw: str) -> int | float | list[int | float] | None:
    values = [_number(token) for token in raw.split()]
    numbers = [value for value in values if value is not None]
    if not numbers or len(numbers) != len(values):
        return None
    return numbers[0] if len(numbers) == 1 else numbers


def _number(token: str) -> int | float | None:
    numerator, slash, denominator = token.partition("/")
    try:
        if not slash:
            return int(numerator)
        top, bottom = int(numerator), int(denominator)
    except ValueError:
        return None
    return top / bottom if bottom else None


def _gps(tags: dict[str, str]) -> dict[str, float | None] | None:
    latitude = _coordinate(tags, "Latitude", negative="S")
    longitude = _coordinate(tags, "Longitude", negative="W")
    if latitude is None or longitude is None:
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        raise ValueError(f"position {latitude}, {longitude} is out of range")
    return {"latitude": latitude, "longitude": longitude, "altitude": _altitude(tags)}


def _coordinate(tags: dict[str, str], axis: str, *, negative: str) -> float | None:
    value = exif_value(tags.get(f"exif-ifd3-GPS{axis}", ""))
    parts = value if isinstance(value, list) else [value]
    numbers = [float(part) for part in parts if isinstance(part, int | float)]
    if not 1 <= len(numbers) <= 3 or len(numbers) != len(parts):
        return None
    degrees = sum(number / 60.0**index for index, number in enumerate(numbers))
    ref = exif_value(tags.get(f"exif-ifd3-GPS{axis}Ref", ""))
    sign = -1 if isinstance(ref, str) and ref.upper().startswith(negative) else 1
    return round(sign * degrees, 7)


def _altitude(tags: dict[str, str]) -> float | None:
    value = exif_value(tags.get("exif-ifd3-GPSAltitude", ""))
    if not isinstance(value, int | float):
        return None
    # libexif names reference 1 (below sea level) "Sea level reference"
    ref = exif_value(tags.get("exif-ifd3-GPSAltitudeRef", ""))
    below = ref == 1 or (isinstance(ref, str) and ref.lower() in ("1", "sea level reference"))
    return round(-value if below else value, 2)


# --- PDF ------------------------------------------------------------------------------


def _pdf_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    from pypdf import PdfReader

    section: dict[str, Any] = {"pages": None, "title": None, "author": None, "encrypted": None}
    try:
        with path.open("rb") as handle:  # a file handle, so pypdf reads lazily
            _read_pdf(PdfReader(handle), section, options.max_text_length)
    except Exception as exc:  # keep what was read before the problem
        section["error"] = _describe(exc, options.max_text_length)
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
        section["title"] = _clean_text(str(info.title), limit) if info.title else None
        section["author"] = _clean_text(str(info.author), limit) if info.author else None


# --- audio and video ------------------------------------------------------------------

#: Codec of formats whose mutagen info does not name it, by mutagen class name.
_CODECS = {
    "MP3": "mp3",
    "FLAC": "flac",
    "OggFLAC": "flac",
    "OggVorbis": "vorbis",
    "OggOpus": "opus",
    "OggSpeex": "speex",
    "OggTheora": "theora",
    "AAC": "aac",
    "AC3": "ac3",
    "WAVE": "pcm",
    "AIFF": "pcm",
    "WavPack": "wavpack",
    "MonkeysAudio": "ape",
}


def _media_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    import mutagen

    media = mutagen.File(str(path))
    if media is None or media.info is None:
        raise ValueError("mutagen does not recognise the format")
    info = media.info
    container = type(media).__name__
    return {
        "container": container,
        "codec": _codec(container, info),
        "duration_seconds": _finite(getattr(info, "length", None)),
        "bitrate": getattr(info, "bitrate", None) or None,
        "sample_rate": getattr(info, "sample_rate", None) or None,
        "channels": getattr(info, "channels", None) or None,
        "bits_per_sample": getattr(info, "bits_per_sample", None) or None,
    }


def _codec(container: str, info: Any) -> str | None:
    codec = getattr(info, "codec", None)
    if codec:
        return str(codec)
    if container == "WAVE" and getattr(info, "audio_format", 1) != 1:
        return None  # a WAV of compressed audio
    return _CODECS.get(container)


_READERS: dict[str, Callable[[Path, MetaOptions], dict[str, Any]]] = {
    "image": _image_section,
    "pdf": _pdf_section,
    "media": _media_section,
}
