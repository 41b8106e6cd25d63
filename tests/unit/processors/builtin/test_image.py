"""``image.thumbnail`` and ``image.resize``: options, outputs, and hostile input.

Every test image is generated here with pyvips; no binary fixtures.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
import pyvips
from pydantic import ValidationError

from chute.errors import Reject
from chute.processors.base import Context, MemorySink, local_context
from chute.processors.builtin import image
from chute.processors.builtin.image import ResizeOptions, Size, ThumbnailOptions
from chute.processors.registry import get_processor

# --- helpers ---------------------------------------------------------------------------


def _image(width: int, height: int) -> Any:
    """An sRGB image whose red is x and green is y (mod 256), blue a constant 128."""
    xyz = pyvips.Image.xyz(width, height)
    blue = pyvips.Image.black(width, height) + 128
    bands = (xyz[0] % 256).bandjoin([xyz[1] % 256, blue])
    return bands.cast("uchar").copy(interpretation="srgb")


def _jpeg(width: int, height: int) -> bytes:
    return bytes(_image(width, height).jpegsave_buffer(Q=90))


def _png(width: int, height: int) -> bytes:
    return bytes(_image(width, height).pngsave_buffer())


def _png_bomb(side: int) -> bytes:
    """A valid, all-black 1-bit PNG of ``side`` x ``side`` pixels: tens of KB on disk,
    ``side**2`` bytes once decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    row = bytes(1 + (side + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _run(
    name: str,
    data: bytes | Path,
    options: dict[str, Any] | None = None,
    *,
    key: str = "photos/cat.jpg",
    template: str | None = None,
) -> tuple[Context, MemorySink]:
    spec = get_processor(name)
    sink = MemorySink()
    ctx = local_context(
        data,
        key=key,
        options=spec.parse_options(options or {}),
        output_template=template or spec.output_template,
        sink=sink,
    )
    try:
        spec.func(ctx)
    finally:
        ctx.close()
    return ctx, sink


def _decode(data: bytes) -> Any:
    return pyvips.Image.new_from_buffer(data, "")


def _only(sink: MemorySink) -> tuple[str, Any]:
    assert len(sink.files) == 1
    [(key, data)] = sink.files.items()
    return key, _decode(data)


# --- options -----------------------------------------------------------------------------


def test_thumbnail_defaults() -> None:
    options = ThumbnailOptions()
    assert options.sizes == [Size(width=256)]
    assert (options.fit, options.format, options.upscale, options.strip) == (
        "fit",
        "jpeg",
        False,
        True,
    )
    assert options.max_pixels == 100_000_000
    assert options.output_quality() == 80


def test_sizes_accept_bare_widths_and_jpg_alias() -> None:
    options = ResizeOptions.model_validate(
        {"sizes": [320, {"width": 640, "height": 480}], "format": "JPG"}
    )
    assert options.sizes == [Size(width=320), Size(width=640, height=480)]
    assert options.format == "jpeg"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "Field required"),
        ({"sizes": []}, "at least 1 item"),
        ({"sizes": [{}]}, "needs a width, a height, or both"),
        ({"sizes": [0]}, "greater than or equal to 1"),
        ({"sizes": [20000]}, "less than or equal to 16383"),
        ({"sizes": [{"width": 10, "depth": 3}]}, "Extra inputs are not permitted"),
        ({"sizes": [320, 640, 320]}, "sizes repeats 320x0"),
        ({"sizes": [320], "fit": "stretch"}, "'fit', 'cover' or 'crop'"),
        ({"sizes": [320], "fit": "cover"}, "fit 'cover' needs both width and height"),
        ({"sizes": [{"height": 9}], "fit": "crop"}, "fit 'crop' needs both width and height"),
        ({"sizes": [{"width": 9, "height": 9}], "fit": "crop", "upscale": True}, "never scales"),
        ({"sizes": [320], "format": "gif"}, "'jpeg', 'png', 'webp' or 'avif'"),
        ({"sizes": [320], "format": "png", "quality": 80}, "png is lossless"),
        ({"sizes": [320], "quality": 101}, "less than or equal to 100"),
        ({"sizes": [320], "max_pixels": 0}, "greater than or equal to 1"),
        ({"sizes": [320], "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        get_processor("image.resize").parse_options(raw)


def test_avif_is_refused_at_validation_without_an_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(image, "avif_supported", lambda: False)
    with pytest.raises(ValidationError, match="cannot encode AVIF"):
        ThumbnailOptions(format="avif")


# --- outputs -----------------------------------------------------------------------------


def test_thumbnail_default_output() -> None:
    ctx, sink = _run("image.thumbnail", _jpeg(640, 480))
    key, out = _only(sink)
    assert key == "photos/cat/thumb-256.jpg"
    assert (out.width, out.height, out.get("vips-loader")) == (256, 192, "jpegload_buffer")
    assert ctx.outputs[0].content_type == "image/jpeg"
    assert ctx.report["source"] == {"width": 640, "height": 480}
    assert ctx.report["outputs"] == [
        {"key": key, "width": 256, "height": 192, "size": len(sink.files[key])}
    ]


def test_several_sizes_in_one_step() -> None:
    options = {"sizes": [320, {"width": 100, "height": 100}], "format": "webp", "quality": 60}
    ctx, sink = _run("image.resize", _jpeg(640, 480), options)
    dims = {key: (_decode(data).width, _decode(data).height) for key, data in sink.files.items()}
    assert dims == {"photos/cat/320x0.webp": (320, 240), "photos/cat/100x100.webp": (100, 75)}
    assert {output.content_type for output in ctx.outputs} == {"image/webp"}
    assert _decode(sink.files["photos/cat/320x0.webp"]).get("vips-loader") == "webpload_buffer"


def test_height_only_box_keeps_aspect() -> None:
    _, sink = _run("image.resize", _jpeg(200, 100), {"sizes": [{"height": 60}]})
    key, out = _only(sink)
    assert (key, out.width, out.height) == ("photos/cat/0x60.jpg", 120, 60)


def test_template_can_use_real_output_size() -> None:
    template = "{base}-{out_width}x{out_height}.{format}"
    _, sink = _run("image.thumbnail", _jpeg(640, 480), {"sizes": [320]}, template=template)
    assert list(sink.files) == ["cat-320x240.jpg"]


def test_cover_fills_the_box() -> None:
    options = {"sizes": [{"width": 50, "height": 50}], "fit": "cover", "format": "png"}
    _, sink = _run("image.resize", _png(200, 100), options)
    _, out = _only(sink)
    assert (out.width, out.height) == (50, 50)


def test_crop_cuts_the_centre_without_scaling() -> None:
    options = {"sizes": [{"width": 50, "height": 40}], "fit": "crop", "format": "png"}
    _, sink = _run("image.resize", _png(200, 100), options)
    _, out = _only(sink)
    assert (out.width, out.height) == (50, 40)
    assert out.getpoint(0, 0)[:2] == [75, 30]  # red is x, green is y in the source


def test_crop_of_a_smaller_image_keeps_what_there_is() -> None:
    options = {"sizes": [{"width": 100, "height": 100}], "fit": "crop", "format": "png"}
    _, sink = _run("image.resize", _png(40, 30), options)
    _, out = _only(sink)
    assert (out.width, out.height) == (40, 30)


@pytest.mark.parametrize(("upscale", "expected"), [(False, (100, 50)), (True, (400, 200))])
def test_upscale_only_when_asked(upscale: bool, expected: tuple[int, int]) -> None:
    _, sink = _run("image.thumbnail", _png(100, 50), {"sizes": [400], "upscale": upscale})
    _, out = _only(sink)
    assert (out.width, out.height) == expected


@pytest.mark.skipif(not image.avif_supported(), reason="this libvips cannot encode AVIF")
def test_avif_output() -> None:
    ctx, sink = _run("image.thumbnail", _jpeg(320, 240), {"sizes": [160], "format": "avif"})
    key, out = _only(sink)
    assert key == "photos/cat/thumb-160.avif"
    assert ctx.outputs[0].content_type == "image/avif"
    assert (out.width, out.height, out.get("heif-compression")) == (160, 120, "av1")


def test_exif_orientation_is_applied() -> None:
    source = _image(400, 200).copy()
    source.set_type(pyvips.GValue.gint_type, "orientation", 6)
    _, sink = _run("image.thumbnail", bytes(source.jpegsave_buffer()), {"sizes": [100]})
    _, out = _only(sink)
    assert (out.width, out.height) == (100, 200)


@pytest.mark.parametrize(("strip", "has_exif"), [(True, False), (False, True)])
def test_strip_drops_exif_but_keeps_the_colour_profile(strip: bool, has_exif: bool) -> None:
    source = _image(200, 100).copy()
    source.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Someone")
    data = bytes(source.jpegsave_buffer(profile="srgb"))
    assert "exif-data" in _decode(data).get_fields()
    _, sink = _run("image.thumbnail", data, {"sizes": [50], "strip": strip})
    fields = _only(sink)[1].get_fields()
    assert ("exif-data" in fields) is has_exif
    assert "icc-profile-data" in fields


def test_transparency_becomes_white_in_jpeg() -> None:
    clear = pyvips.Image.black(64, 64, bands=4).cast("uchar").copy(interpretation="srgb")
    _, sink = _run("image.thumbnail", bytes(clear.pngsave_buffer()), {"sizes": [32]})
    _, out = _only(sink)
    assert out.bands == 3
    assert out.min() >= 250


def test_png_named_jpg_is_read_as_png(tmp_path: Path) -> None:
    source = tmp_path / "cat.jpg"
    source.write_bytes(_png(300, 150))
    _, sink = _run("image.thumbnail", source)
    key, out = _only(sink)
    assert (key, out.width, out.height) == ("photos/cat/thumb-256.jpg", 256, 128)
    assert out.get("vips-loader") == "jpegload_buffer"


def test_key_with_brackets_is_not_read_as_load_options() -> None:
    _, sink = _run("image.thumbnail", _jpeg(64, 64), {"sizes": [32]}, key="odd.jp[g]")
    assert list(sink.files) == ["odd/thumb-32.jpg"]


def test_thumbnail_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(_png(120, 60))
    out = _decode(image.thumbnail_bytes(source, 60, 60, fit="cover", format="webp"))
    assert (out.width, out.height, out.get("vips-loader")) == (60, 60, "webpload_buffer")


def test_pyvips_is_not_imported_with_the_module() -> None:
    code = "import sys, chute.processors.builtin.image; print('pyvips' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- hostile input -------------------------------------------------------------------------

_JUNK = random.Random(0).randbytes(4000)
_JPEG = _jpeg(800, 600)
_PNG = _png(300, 200)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "^empty file$", id="empty"),
        pytest.param(_JPEG[: len(_JPEG) // 2], "premature end of JPEG", id="truncated-jpeg"),
        pytest.param(_JPEG[:300] + _JUNK, "Corrupt JPEG data", id="jpeg-header-then-junk"),
        pytest.param(_PNG[: len(_PNG) // 2], "libpng read error", id="truncated-png"),
        pytest.param(_PNG[:33] + _JUNK, "damaged or unsupported image", id="png-header-then-junk"),
        pytest.param(b"hello, world\n" * 100, "not in a known format", id="text"),
        pytest.param(_png_bomb(20000), "over the limit of 100,000,000", id="bomb"),
    ],
)
@pytest.mark.parametrize("fit", ["fit", "crop"])
def test_hostile_input_is_rejected(data: bytes, message: str, fit: str) -> None:
    options = {"sizes": [{"width": 64, "height": 64}], "fit": fit}
    with pytest.raises(Reject, match=message) as caught:
        _run("image.resize", data, options)
    assert "\n" not in str(caught.value)


def test_pixel_limit_is_an_option() -> None:
    with pytest.raises(Reject, match=r"200x100 = 20,000 pixels, over the limit of 10,000"):
        _run("image.thumbnail", _png(200, 100), {"max_pixels": 10_000})


def test_nothing_is_written_for_a_rejected_input() -> None:
    spec = get_processor("image.thumbnail")
    sink = MemorySink()
    ctx = local_context(_JPEG[:1000], options=spec.parse_options({}), sink=sink)
    try:
        with pytest.raises(Reject):
            spec.func(ctx)
    finally:
        ctx.close()
    assert (sink.files, ctx.outputs) == ({}, [])
