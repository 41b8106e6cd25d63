"""The ``image`` section of ``meta.extract``: an image's header, read with libvips
without decoding a pixel, with a readable EXIF subset and the GPS position."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chute.processors.builtin.meta.section import MetaOptions, clean_text

ExifValue = str | int | float | list[int | float] | None

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


def image_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    """The image's section, from its header; a bad GPS position leaves an ``error``."""
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
            subset[name] = clean_text(value, limit) if isinstance(value, str) else value
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
