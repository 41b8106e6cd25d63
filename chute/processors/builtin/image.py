"""Image processors: ``image.thumbnail`` and ``image.resize``, built on libvips (pyvips).

Both make one output per requested size from a single source image. libvips reads only
what it needs: the pixel-count limit is checked on the header before any pixel is
decoded, and ``fit`` and ``cover`` use its thumbnail operation, which shrinks JPEG, WebP
and HEIF/AVIF while decoding them. The source format is sniffed from the bytes, never
from the key's extension, and the EXIF orientation is applied.

Input is untrusted: damaged or unreadable images, empty files and images over the pixel
limit are rejected (:class:`~chute.errors.Reject`) with a one-line reason, so they go
straight to the dead-letter state instead of being retried. Loaders libvips marks as
untrusted are blocked for the whole process the first time this module uses libvips.

pyvips is imported on first use, not with this module, because the registry imports
every built-in processor module at start-up.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chute.errors import Reject
from chute.processors.base import Context
from chute.processors.registry import processor

Fit = Literal["fit", "cover", "crop"]
Format = Literal["jpeg", "png", "webp", "avif"]
Gravity = Literal["center", "smart"]

#: Largest width or height an output may ask for (WebP's own limit).
MAX_SIDE = 16383
#: Default ``max_pixels``: 100 megapixels.
MAX_PIXELS = 100_000_000
#: File extension (the ``{format}`` template variable) and content type per format.
FORMATS: dict[str, tuple[str, str]] = {
    "jpeg": ("jpg", "image/jpeg"),
    "png": ("png", "image/png"),
    "webp": ("webp", "image/webp"),
    "avif": ("avif", "image/avif"),
}
#: Quality used when ``quality`` is not set (imgproxy's defaults).
DEFAULT_QUALITY = {"jpeg": 80, "webp": 80, "avif": 65}
#: libvips needs a height for a width-only box: this one never binds.
_UNBOUNDED = 10_000_000
_INTERESTING = {"center": "centre", "smart": "attention"}


class Size(BaseModel):
    """One output box, ``{width = 320}``, ``{height = 200}`` or ``{width = 640,
    height = 480}``. A missing side is free: the image keeps its aspect ratio. In
    ``sizes`` a bare number is short for a width (``sizes = [320, 640]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    height: int | None = Field(default=None, ge=1, le=MAX_SIDE)

    @model_validator(mode="after")
    def _has_a_side(self) -> Self:
        if self.width is None and self.height is None:
            raise ValueError("a size needs a width, a height, or both")
        return self

    def label(self) -> str:
        """The size as imgproxy writes it, ``640x0`` for a width-only box."""
        return f"{self.width or 0}x{self.height or 0}"


class ImageOptions(BaseModel):
    """Options shared by ``image.thumbnail`` and ``image.resize``.

    - ``sizes``: the boxes to produce, one output each (see :class:`Size`); at most 16,
      no repeats.
    - ``fit``: how the image meets each box.
      ``fit`` scales it to lie inside the box, keeping its aspect ratio, so one side may
      come out shorter than the box (imgproxy ``fit``, CSS ``contain``).
      ``cover`` scales it to fill the box, keeping its aspect ratio, and cuts off what
      overflows, so the output is exactly the box (imgproxy ``fill``, CSS ``cover``).
      ``crop`` does not scale: it cuts a box-sized region out of the full-size image
      (smaller if the image is). ``cover`` and ``crop`` need both width and height.
    - ``gravity``: which part ``cover`` and ``crop`` keep: ``center``, or ``smart``
      (libvips' attention detector: skin tones, saturated colour, edges).
    - ``format``: ``jpeg`` (or ``jpg``), ``png``, ``webp`` or ``avif``. JPEG has no
      transparency: transparent areas become white.
    - ``quality``: 1-100 for the lossy formats; by default 80 for JPEG and WebP, 65 for
      AVIF. PNG is lossless and takes none.
    - ``upscale``: whether ``fit`` and ``cover`` may enlarge an image smaller than the
      box (default no: it is then only cut to the box, never enlarged).
    - ``strip``: drop EXIF (camera, GPS), XMP and IPTC metadata (default yes). The ICC
      colour profile is always kept, so colours stay right.
    - ``max_pixels``: reject sources with more pixels than this (default 100 megapixels),
      checked on the header before decoding, as a guard against decompression bombs.

    Output keys get the template variables ``width`` and ``height`` (the requested box,
    0 for a free side), ``format`` (the extension: ``jpg``, ``png``, ``webp``, ``avif``),
    and ``out_width`` and ``out_height`` (the output's real size).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: list[Size] = Field(min_length=1, max_length=16)
    fit: Fit = "fit"
    gravity: Gravity = "center"
    format: Format = "jpeg"
    quality: int | None = Field(default=None, ge=1, le=100)
    upscale: bool = False
    strip: bool = True
    max_pixels: int = Field(default=MAX_PIXELS, ge=1)

    @field_validator("sizes", mode="before")
    @classmethod
    def _width_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"width": item} if isinstance(item, int) else item for item in value]
        return value

    @field_validator("sizes")
    @classmethod
    def _no_repeats(cls, sizes: list[Size]) -> list[Size]:
        repeated = sorted({size.label() for size in sizes if sizes.count(size) > 1})
        if repeated:
            raise ValueError(f"sizes repeats {', '.join(repeated)}")
        return sizes

    @field_validator("format", mode="before")
    @classmethod
    def _format_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.lower()
            return "jpeg" if value == "jpg" else value
        return value

    @field_validator("format")
    @classmethod
    def _format_available(cls, value: Format) -> Format:
        if value == "avif" and not avif_supported():
            raise ValueError(
                "this libvips cannot encode AVIF (no AV1 encoder in its libheif); use webp or jpeg"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.fit != "fit" and any(s.width is None or s.height is None for s in self.sizes):
            raise ValueError(f"fit {self.fit!r} needs both width and height in every size")
        if self.format == "png" and self.quality is not None:
            raise ValueError("png is lossless: quality does not apply")
        if self.fit == "crop" and self.upscale:
            raise ValueError("fit 'crop' never scales: upscale does not apply")
        return self

    def output_quality(self) -> int:
        """The encoder quality to use (PNG ignores it)."""
        return self.quality or DEFAULT_QUALITY.get(self.format, 0)


class ThumbnailOptions(ImageOptions):
    """Options of ``image.thumbnail`` (see :class:`ImageOptions`); ``sizes`` defaults to
    one 256-pixel-wide thumbnail."""

    sizes: list[Size] = Field(
        default_factory=lambda: [Size(width=256)], min_length=1, max_length=16
    )


class ResizeOptions(ImageOptions):
    """Options of ``image.resize`` (see :class:`ImageOptions`); ``sizes`` is required."""


@dataclass(frozen=True, slots=True)
class Rendition:
    """One encoded output image."""

    data: bytes
    width: int
    height: int
    format: Format

    @property
    def extension(self) -> str:
        """File extension for the format, as in output keys."""
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        """MIME type for the format."""
        return FORMATS[self.format][1]


# --- processors ------------------------------------------------------------------------


@processor(
    "image.thumbnail", options=ThumbnailOptions, output_template="{stem}/thumb-{width}.{format}"
)
def thumbnail(ctx: Context) -> None:
    """Makes thumbnails of an image: by default one JPEG 256 pixels wide."""
    _render_all(ctx, ctx.options)


@processor(
    "image.resize", options=ResizeOptions, output_template="{stem}/{width}x{height}.{format}"
)
def resize(ctx: Context) -> None:
    """Makes resized or cropped copies of an image, one per requested size."""
    _render_all(ctx, ctx.options)


def _render_all(ctx: Context, options: ImageOptions) -> None:
    """Writes one output per size and lists them in ``ctx.report["outputs"]``."""
    path = ctx.path()
    width, height = check_image(path, options.max_pixels)
    ctx.report["source"] = {"width": width, "height": height}
    ctx.report["outputs"] = [_write(ctx, path, size, options) for size in options.sizes]


def _write(ctx: Context, path: Path, size: Size, options: ImageOptions) -> dict[str, Any]:
    with _rejecting():
        out = render(path, size, options)
    key = ctx.write_output(
        out.data,
        content_type=out.content_type,
        width=size.width or 0,
        height=size.height or 0,
        format=out.extension,
        out_width=out.width,
        out_height=out.height,
    )
    return {"key": key, "width": out.width, "height": out.height, "size": len(out.data)}


# --- the image work (no Context: benchmarks call these directly) -------------------------


def check_image(path: Path, max_pixels: int) -> tuple[int, int]:
    """The image's ``(width, height)``, read from its header only; raises ``Reject`` for
    an empty file, something that is not a readable image, or too many pixels."""
    if path.stat().st_size == 0:
        raise Reject("empty file")
    with _rejecting():
        header = _vips().Image.new_from_source(
            _source(path), "", access="sequential", fail_on="error"
        )
        width, height = int(header.width), int(header.height)
    if width * height > max_pixels:
        raise Reject(
            f"image is {width}x{height} = {width * height:,} pixels, "
            f"over the limit of {max_pixels:,} (option max_pixels)"
        )
    return width, height


def render(path: Path, size: Size, options: ImageOptions) -> Rendition:
    """The image at ``path`` fitted to one size and encoded; raises ``pyvips.Error``.

    Checks no limits: call :func:`check_image` first on untrusted input."""
    image = _crop(path, size, options) if options.fit == "crop" else _scale(path, size, options)
    return Rendition(_encode(image, options), int(image.width), int(image.height), options.format)


def thumbnail_bytes(
    path: Path,
    width: int | None,
    height: int | None = None,
    *,
    fit: Fit = "fit",
    format: Format = "jpeg",
    quality: int | None = None,
) -> bytes:
    """One encoded thumbnail of the image at ``path`` (for benchmarks and scripts)."""
    options = ImageOptions(
        sizes=[Size(width=width, height=height)], fit=fit, format=format, quality=quality
    )
    return render(path, options.sizes[0], options).data


@functools.cache
def avif_supported() -> bool:
    """Whether this libvips can encode AVIF (its libheif may lack an AV1 encoder)."""
    vips = _vips()
    try:
        vips.Image.black(8, 8).heifsave_buffer(compression="av1")
    except vips.Error:
        return False
    return True


def _scale(path: Path, size: Size, options: ImageOptions) -> Any:
    """``fit`` and ``cover``: libvips' thumbnail, which shrinks while decoding and
    applies the EXIF orientation."""
    return _vips().Image.thumbnail_source(
        _source(path),
        size.width or _UNBOUNDED,
        height=size.height or _UNBOUNDED,
        size="both" if options.upscale else "down",
        crop=_INTERESTING[options.gravity] if options.fit == "cover" else "none",
        # the fail_on keyword does not reach the loader here; the option string does
        option_string="fail_on=error",
    )


def _crop(path: Path, size: Size, options: ImageOptions) -> Any:
    """``crop``: a box-sized region of the upright, full-size image."""
    image = _vips().Image.new_from_source(_source(path), "", fail_on="error").autorot()
    width = min(size.width or image.width, image.width)
    height = min(size.height or image.height, image.height)
    return image.smartcrop(width, height, interesting=_INTERESTING[options.gravity])


def _encode(image: Any, options: ImageOptions) -> bytes:
    vips = _vips()
    keep = vips.enums.ForeignKeep.ICC if options.strip else vips.enums.ForeignKeep.ALL
    quality = options.output_quality()
    if options.format == "jpeg":
        return bytes(image.jpegsave_buffer(Q=quality, keep=keep, background=[255]))
    if options.format == "png":
        return bytes(image.pngsave_buffer(keep=keep))
    if options.format == "webp":
        return bytes(image.webpsave_buffer(Q=quality, keep=keep))
    return bytes(image.heifsave_buffer(Q=quality, keep=keep, compression="av1"))


def _source(path: Path) -> Any:
    # a Source, not a file name: libvips would read "[...]" at the end of a name as options
    return _vips().Source.new_from_file(str(path))


@contextmanager
def _rejecting() -> Iterator[None]:
    """Turns libvips errors (damaged or unreadable input) into ``Reject``."""
    vips = _vips()
    try:
        yield
    except vips.Error as exc:
        raise Reject(f"damaged or unsupported image: {_one_line(exc)}") from exc


def _one_line(exc: Any, limit: int = 300) -> str:
    """libvips' error detail (its often repeated lines, else its message) as one line."""
    lines = [line.strip() for line in str(exc.detail or exc.message).splitlines()]
    text = "; ".join(dict.fromkeys(line for line in lines if line))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def _vips() -> Any:
    """pyvips, imported on first use, with libvips' untrusted loaders blocked."""
    import pyvips

    pyvips.block_untrusted_set(True)
    return pyvips
