"""``meta.extract``: MIME sniffing, digests, and the image, PDF and media sections.

Every input is generated here (pyvips, pypdf, the stdlib ``wave`` module); no binary fixtures.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
import pyvips
from pydantic import ValidationError
from pypdf import PdfWriter

from chute.jobs import SourceObject
from chute.processors.base import BytesInput, Context, MemorySink, local_context
from chute.processors.builtin import meta
from chute.processors.builtin.meta import MetaOptions, exif_value, sniff_mime, type_mismatch
from chute.processors.registry import get_processor

# --- helpers ---------------------------------------------------------------------------


def _extract(
    data: Path | bytes,
    *,
    key: str = "input",
    content_type: str = "application/octet-stream",
    **options: Any,
) -> Context:
    """Run ``meta.extract`` on ``data``; checks the metadata is strict JSON on the way."""
    spec = get_processor("meta.extract")
    ctx = local_context(
        data, key=key, content_type=content_type, options=spec.parse_options(options)
    )
    try:
        spec.func(ctx)
    finally:
        ctx.close()
    json.dumps(ctx.metadata, allow_nan=False)
    return ctx


def _image(width: int = 64, height: int = 48, bands: int = 3) -> Any:
    noise = pyvips.Image.gaussnoise(width, height, mean=128, sigma=40)
    return noise.bandjoin([noise] * (bands - 1)).cast("uchar").copy(interpretation="srgb")


def _with_exif(image: Any, fields: dict[str, str]) -> Any:
    image = image.copy()
    for name, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, name, value)
    return image


CAMERA = {
    "exif-ifd0-Make": "Acme",
    "exif-ifd0-Model": "Cam 1",
    "exif-ifd0-Software": "chute-test 1.0",
    "exif-ifd2-DateTimeOriginal": "2024:05:06 07:08:09",
    "exif-ifd2-ExposureTime": "1/250",
    "exif-ifd2-FNumber": "28/10",
    "exif-ifd2-ISOSpeedRatings": "200",
    "exif-ifd2-FocalLength": "50/1",
    "exif-ifd2-LensModel": "Lens X",
    "exif-ifd3-GPSLatitudeRef": "N",
    "exif-ifd3-GPSLatitude": "51/1 30/1 36/1",
    "exif-ifd3-GPSLongitudeRef": "W",
    "exif-ifd3-GPSLongitude": "0/1 7/1 3990/100",
    "exif-ifd3-GPSAltitude": "35/1",
}


def _camera_jpeg(path: Path, **extra: str) -> Path:
    image = _with_exif(_image(), {**CAMERA, **extra})
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    image.jpegsave(str(path))
    return path


def _tiff_ifd(entries: list[tuple[int, int, int, bytes]], start: int) -> bytes:
    """One little-endian TIFF IFD placed at ``start``, its longer values right after it."""
    data_at = start + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            value = payload.ljust(4, b"\0")
        else:
            value = struct.pack("<I", data_at + len(data))
            data += payload
        table += struct.pack("<HHI", tag, kind, count) + value
    return struct.pack("<H", len(entries)) + table + b"\0\0\0\0" + data


def _rationals(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<II", top, bottom) for top, bottom in pairs)


def _gps_app1() -> bytes:
    """A hand-built EXIF APP1 segment: 33°51'54" S, 151°12'30" E, 12.5 m below sea level
    (a reference libvips cannot write)."""
    gps_at = 8 + 18  # after the TIFF header and a one-entry IFD0
    ifd0 = _tiff_ifd([(0x8825, 4, 1, struct.pack("<I", gps_at))], start=8)
    gps = _tiff_ifd(
        [
            (0x0000, 1, 4, bytes([2, 3, 0, 0])),
            (0x0001, 2, 2, b"S\0"),
            (0x0002, 5, 3, _rationals((33, 1), (51, 1), (54, 1))),
            (0x0003, 2, 2, b"E\0"),
            (0x0004, 5, 3, _rationals((151, 1), (12, 1), (30, 1))),
            (0x0005, 1, 1, b"\x01"),
            (0x0006, 5, 1, _rationals((25, 2))),
        ],
        start=gps_at,
    )
    body = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd0 + gps
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _pdf(*, user_password: str | None = None, owner_password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Quarterly report", "/Author": "Ann Author"})
    if user_password is not None:
        writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _wav(path: Path, *, seconds: float, rate: int = 8000, channels: int = 2) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(int(seconds * rate) * channels * 2))
    return path


# --- registration and options ----------------------------------------------------------


def test_registered_with_its_options() -> None:
    spec = get_processor("meta.extract")
    assert spec.options is MetaOptions
    assert spec.parse_options({}) == MetaOptions(exif=True, gps=True, max_text_length=256)
    with pytest.raises(ValidationError):
        spec.parse_options({"exiff": False})
    with pytest.raises(ValidationError):
        spec.parse_options({"max_text_length": 3})


def test_module_import_loads_no_heavy_library() -> None:
    heavy = ("pyvips", "pypdf", "mutagen", "puremagic")
    code = (
        "import sys, chute.processors.builtin.meta;"
        f" print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- size and digest -------------------------------------------------------------------


def test_size_and_sha256_are_streamed_over_many_chunks(tmp_path: Path) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 5)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    ctx = _extract(path)
    assert ctx.metadata["size"] == len(data)
    assert ctx.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    assert ctx.metadata["errors"] == []


def test_a_digest_differing_from_the_recorded_one_is_reported() -> None:
    source = SourceObject(
        bucket="b",
        key="k.txt",
        version_id="v1",
        size=4,
        etag="",
        sha256="0" * 64,
        content_type="text/plain",
    )
    ctx = Context(source=source, source_input=BytesInput(b"abc"), sink=MemorySink())
    get_processor("meta.extract").func(ctx)
    assert ctx.metadata["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert ctx.metadata["size"] == 3
    assert ctx.metadata["errors"] == [
        f"content: sha256 {ctx.metadata['sha256']} differs from the recorded {'0' * 64}",
        "content: 3 bytes read, 4 recorded",
    ]


def test_an_empty_object_succeeds_as_x_empty() -> None:
    ctx = _extract(b"", content_type="image/png")
    assert ctx.metadata == {
        "mime": "application/x-empty",
        "declared_type": "image/png",
        "type_mismatch": False,
        "size": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "errors": [],
    }
    assert ctx.report == {"mime": "application/x-empty", "found": [], "errors": 0}


# --- MIME sniffing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        pytest.param(b"name,age,city\nann,31,oslo\nbob,42,rome\n", "text/csv", id="csv"),
        pytest.param(b"a;b\n1;2\n3;4\n", "text/csv", id="csv-semicolon"),
        pytest.param(b"a\tb\tc\n1\t2\t3\n", "text/tab-separated-values", id="tsv"),
        pytest.param(b'{"name": "ann", "tags": [1, 2]}\n', "application/json", id="json"),
        pytest.param(b"\xef\xbb\xbf[1, 2, 3]", "application/json", id="json-bom"),
        pytest.param(b'{"a": 1}\n{"a": 2}\n\n[3]\n', "application/x-ndjson", id="ndjson"),
        pytest.param("h\u00e9llo w\u00f6rld \u2713\n".encode(), "text/plain", id="utf8"),
        pytest.param(b"{not json}\n", "text/plain", id="braces-not-json"),
        pytest.param(b"42\n", "text/plain", id="bare-json-number"),
        pytest.param(b"Hello, world.\nNo commas here\n", "text/plain", id="prose"),
        pytest.param(b"one\ntwo\nthree\n", "text/plain", id="one-column"),
        pytest.param(b"<!DOCTYPE html><html><body>hi</body></html>", "text/html", id="html"),
        pytest.param("h\u00e9llo".encode("latin-1"), "application/octet-stream", id="latin1"),
        pytest.param(b"text\x00with a nul", "application/octet-stream", id="nul"),
        pytest.param(
            random.Random(1).randbytes(4096), "application/octet-stream", id="random-bytes"
        ),
    ],
)
def test_mime_is_sniffed_from_the_content(data: bytes, mime: str) -> None:
    ctx = _extract(data, key="upload.bin")
    assert ctx.metadata["mime"] == mime
    assert ctx.report["mime"] == mime


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        pytest.param(b"[" + b'{"a": 1}, ' * 20_000 + b"{}]", "application/json", id="json"),
        pytest.param(b'{"a": 1}\n' * 20_000, "application/x-ndjson", id="ndjson"),
        pytest.param(b"[2024-05-06 12:00:00] started\n" * 5000, "text/plain", id="log"),
        pytest.param(b"x,y\n1,2\n" * 20_000, "text/csv", id="csv"),
        # the head ends inside a two-byte character: still text
        pytest.param(
            b"a" * (meta.HEAD_BYTES - 1) + "\u00e9".encode() * 8, "text/plain", id="cut-char"
        ),
    ],
)
def test_only_the_head_of_a_large_object_is_sniffed(data: bytes, mime: str) -> None:
    assert len(data) > meta.HEAD_BYTES
    assert sniff_mime(data[: meta.HEAD_BYTES], complete=False) == mime
    assert _extract(data).metadata["mime"] == mime


def test_a_zip_is_a_zip_not_a_guessed_office_format() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hi")
    assert sniff_mime(out.getvalue(), complete=True) == "application/zip"


@pytest.mark.parametrize(
    ("sniffed", "declared", "mismatch"),
    [
        ("image/png", "image/jpeg", True),
        ("application/json", "image/png", True),
        ("application/pdf", "text/plain", True),
        ("image/jpeg", "image/jpg", False),
        ("image/png", "IMAGE/PNG; charset=binary", False),
        ("text/csv", "text/plain", False),
        ("text/plain", "application/json", False),
        (
            "application/zip",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            False,
        ),
        ("audio/wav", "audio/x-wav", False),
        ("video/mp4", "audio/mp4", False),
        ("application/ogg", "audio/ogg", False),
        ("application/pdf", "application/octet-stream", False),
        ("application/pdf", "", False),
        ("application/octet-stream", "image/png", False),
    ],
)
def test_type_mismatch_compares_families(sniffed: str, declared: str, mismatch: bool) -> None:
    assert type_mismatch(sniffed, declared) is mismatch


# --- images ----------------------------------------------------------------------------


def test_jpeg_header_exif_and_gps(tmp_path: Path) -> None:
    ctx = _extract(_camera_jpeg(tmp_path / "cam.jpg"), key="cam.jpg", content_type="image/jpeg")
    assert ctx.metadata["mime"] == "image/jpeg"
    assert ctx.metadata["type_mismatch"] is False
    image = ctx.metadata["image"]
    assert {k: image[k] for k in ("width", "height", "format", "bands", "has_alpha")} == {
        "width": 64,
        "height": 48,
        "format": "jpeg",
        "bands": 3,
        "has_alpha": False,
    }
    assert image["orientation"] == 6
    assert image["exif"] == {
        "Make": "Acme",
        "Model": "Cam 1",
        "Software": "chute-test 1.0",
        "DateTimeOriginal": "2024:05:06 07:08:09",
        "ExposureTime": 0.004,
        "FNumber": 2.8,
        "ISO": 200,
        "FocalLength": 50.0,
        "LensModel": "Lens X",
    }
    assert image["gps"] == {
        "latitude": pytest.approx(51.51),
        "longitude": pytest.approx(-(7 / 60 + 39.9 / 3600)),
        "altitude": 35.0,
    }
    assert ctx.metadata["errors"] == []
    assert ctx.report == {"mime": "image/jpeg", "found": ["image", "exif", "gps"], "errors": 0}


def test_gps_south_east_and_below_sea_level_from_a_hand_built_exif() -> None:
    jpeg = bytes(_image().jpegsave_buffer(keep="none"))
    ctx = _extract(jpeg[:2] + _gps_app1() + jpeg[2:], content_type="image/jpeg")
    assert ctx.metadata["image"]["gps"] == {
        "latitude": pytest.approx(-(33 + 51 / 60 + 54 / 3600)),
        "longitude": pytest.approx(151 + 12 / 60 + 30 / 3600),
        "altitude": -12.5,
    }


def test_exif_and_gps_can_be_left_out(tmp_path: Path) -> None:
    path = _camera_jpeg(tmp_path / "cam.jpg")
    assert _extract(path, gps=False).metadata["image"]["gps"] is None
    without = _extract(path, exif=False).metadata["image"]
    assert without["exif"] == {}
    assert without["gps"] is not None


def test_long_exif_text_is_cut(tmp_path: Path) -> None:
    path = _camera_jpeg(tmp_path / "cam.jpg", **{"exif-ifd0-Make": "M" * 40})
    make = _extract(path, max_text_length=16).metadata["image"]["exif"]["Make"]
    assert make == "M" * 15 + "\u2026"


def test_gps_out_of_range_is_an_error_not_a_failure(tmp_path: Path) -> None:
    path = _camera_jpeg(tmp_path / "cam.jpg", **{"exif-ifd3-GPSLatitude": "95/1 0/1 0/1"})
    ctx = _extract(path)
    image = ctx.metadata["image"]
    assert image["gps"] is None
    assert image["width"] == 64
    assert ctx.metadata["errors"] == [f"image: {image['error']}"]
    assert "out of range" in image["error"]


def test_png_uploaded_as_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _image(10, 20, bands=4).pngsave(str(path))
    ctx = _extract(path, key="photo.jpg", content_type="image/jpeg")
    assert ctx.metadata["mime"] == "image/png"
    assert ctx.metadata["declared_type"] == "image/jpeg"
    assert ctx.metadata["type_mismatch"] is True
    image = ctx.metadata["image"]
    assert (image["format"], image["width"], image["height"]) == ("png", 10, 20)
    assert (image["bands"], image["has_alpha"]) == (4, True)
    assert image["exif"] == {}
    assert image["gps"] is None


def test_a_truncated_jpeg_still_gives_its_header(tmp_path: Path) -> None:
    data = bytes(_image(400, 300).jpegsave_buffer(Q=95))
    ctx = _extract(data[: len(data) // 2], content_type="image/jpeg")
    assert (ctx.metadata["image"]["width"], ctx.metadata["image"]["height"]) == (400, 300)


def test_an_unreadable_image_is_recorded_not_raised() -> None:
    ctx = _extract(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8, content_type="image/png")
    assert ctx.metadata["mime"] == "image/png"
    assert ctx.metadata["image"] is None
    assert len(ctx.metadata["errors"]) == 1
    assert ctx.metadata["errors"][0].startswith("image: ")
    assert ctx.report["found"] == []


# --- PDF -------------------------------------------------------------------------------


def test_pdf_pages_and_document_info() -> None:
    ctx = _extract(_pdf(), key="report.pdf", content_type="application/pdf")
    assert ctx.metadata["mime"] == "application/pdf"
    assert ctx.metadata["pdf"] == {
        "pages": 2,
        "title": "Quarterly report",
        "author": "Ann Author",
        "encrypted": False,
    }
    assert ctx.report["found"] == ["pdf"]


def test_a_pdf_needing_a_password_gives_an_error_not_a_failure() -> None:
    ctx = _extract(_pdf(user_password="secret", owner_password="owner"))
    pdf = ctx.metadata["pdf"]
    assert (pdf["encrypted"], pdf["pages"], pdf["title"]) == (True, None, None)
    assert "password" in pdf["error"]
    assert ctx.metadata["errors"] == [f"pdf: {pdf['error']}"]


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    pdf = _extract(_pdf(user_password="", owner_password="owner")).metadata["pdf"]
    assert (pdf["encrypted"], pdf["pages"]) == (True, 2)
    assert "error" not in pdf


def test_a_broken_pdf_gives_an_error_not_a_failure() -> None:
    data = _pdf()
    ctx = _extract(data[: len(data) // 3], content_type="application/pdf")
    assert ctx.metadata["mime"] == "application/pdf"
    assert ctx.metadata["pdf"]["pages"] is None
    assert ctx.metadata["pdf"]["error"]
    assert ctx.metadata["errors"][0].startswith("pdf: ")


# --- audio and video -------------------------------------------------------------------


def test_wav_duration_and_format(tmp_path: Path) -> None:
    path = _wav(tmp_path / "tone.wav", seconds=1.5, rate=8000, channels=2)
    ctx = _extract(path, key="tone.wav", content_type="audio/x-wav")
    assert ctx.metadata["mime"] == "audio/wav"
    assert ctx.metadata["type_mismatch"] is False
    assert ctx.metadata["media"] == {
        "container": "WAVE",
        "codec": "pcm",
        "duration_seconds": 1.5,
        "bitrate": 8000 * 2 * 16,
        "sample_rate": 8000,
        "channels": 2,
        "bits_per_sample": 16,
    }
    assert ctx.report["found"] == ["media"]


def test_unreadable_audio_is_recorded_not_raised() -> None:
    ctx = _extract(b"fLaC" + bytes(200), content_type="audio/flac")
    assert ctx.metadata["mime"] == "audio/flac"
    assert ctx.metadata["media"] is None
    assert ctx.metadata["errors"][0].startswith("media: ")


# --- EXIF value parsing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Acme (Acme, ASCII, 5 components, 5 bytes)", "Acme"),
        ("Foo (Bar) (Foo (Bar), ASCII, 10 components, 10 bytes)", "Foo (Bar)"),
        ("200 (200, Short, 1 components, 2 bytes)", 200),
        ("28/10 (f/2.8, Rational, 1 components, 8 bytes)", 2.8),
        ("51/1 30/1 0/1 (51, 30, 0, Rational, 3 components, 24 bytes)", [51.0, 30.0, 0.0]),
        ("-1/3 (-0.33, SRational, 1 components, 8 bytes)", -1 / 3),
        ("0/0 (0/0, Rational, 1 components, 8 bytes)", None),
        ("Sea level (Sea level, Byte, 1 components, 1 bytes)", "Sea level"),
        ("not in the libvips form", "not in the libvips form"),
        ("", None),
    ],
)
def test_exif_value_parses_libvips_strings(text: str, value: object) -> None:
    assert exif_value(text) == value
