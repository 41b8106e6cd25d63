"""Form bodies of browser uploads: fields, then the file, however the body is cut."""

from __future__ import annotations

import pytest

from chute.api.s3.form import FormReader, boundary_of
from chute.errors import InvalidArgument, MalformedPOSTRequest, MaxPostPreDataLengthExceeded

BOUNDARY = "----chute0123"


def body(*parts: tuple[str, str | bytes], filename: str | None = "cat.jpg") -> bytes:
    out = b""
    for name, value in parts:
        if isinstance(value, bytes):
            extra = f'; filename="{filename}"' if filename is not None else ""
            head = f'Content-Disposition: form-data; name="{name}"{extra}\r\n'
            head += "Content-Type: image/jpeg\r\n"
            out += f"--{BOUNDARY}\r\n{head}\r\n".encode() + value + b"\r\n"
        else:
            head = f'Content-Disposition: form-data; name="{name}"\r\n'
            out += f"--{BOUNDARY}\r\n{head}\r\n{value}\r\n".encode()
    return out + f"--{BOUNDARY}--\r\n".encode()


def blocks(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


FILE = bytes(range(256)) * 64 + b"\r\n--not-the-boundary\r\n" + b"tail"


@pytest.mark.parametrize("size", [1, 7, 100, 4096, 1 << 20])
def test_fields_then_the_file_whatever_the_blocks(size: int) -> None:
    raw = body(("key", "uploads/${filename}"), ("Policy", "e30="), ("file", FILE), ("submit", "Go"))
    reader = FormReader(BOUNDARY.encode(), blocks(raw, size))
    form = reader.read_fields()
    assert form.fields == [("key", "uploads/${filename}"), ("Policy", "e30=")]
    assert form.filename == "cat.jpg"
    assert b"".join(reader.file()) == FILE


def test_the_boundary_of_a_content_type() -> None:
    assert boundary_of(f'multipart/form-data; boundary="{BOUNDARY}"') == BOUNDARY.encode()
    with pytest.raises(MalformedPOSTRequest):
        boundary_of("multipart/form-data")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\ada\\cat.jpg", "cat.jpg"),
        ("dir/sub/cat.jpg", "cat.jpg"),
        ("", ""),
        ("é.png", "é.png"),
    ],
)
def test_the_file_name_without_its_path(sent: str, kept: str) -> None:
    reader = FormReader(BOUNDARY.encode(), [body(("file", b"x"), filename=sent)])
    assert reader.read_fields().filename == kept


def test_a_file_part_without_a_file_name() -> None:
    reader = FormReader(BOUNDARY.encode(), [body(("key", "k"), ("file", b"x"), filename=None)])
    assert reader.read_fields().filename is None
    assert b"".join(reader.file()) == b"x"


def test_the_file_field_name_in_any_case() -> None:
    reader = FormReader(BOUNDARY.encode(), [body(("key", "k"), ("File", b"data"))])
    assert reader.read_fields().fields == [("key", "k")]
    assert b"".join(reader.file()) == b"data"


def test_a_form_without_a_file() -> None:
    reader = FormReader(BOUNDARY.encode(), [body(("key", "k"), ("other", "x"))])
    with pytest.raises(InvalidArgument) as err:
        reader.read_fields()
    assert err.value.details == {"ArgumentName": "file", "ArgumentValue": "0"}


def test_a_body_cut_off_in_the_fields_or_the_file() -> None:
    raw = body(("key", "k"), ("file", b"x" * 1000))
    with pytest.raises(MalformedPOSTRequest):
        FormReader(BOUNDARY.encode(), [raw[:40]]).read_fields()
    reader = FormReader(BOUNDARY.encode(), blocks(raw[:-60], 64))
    reader.read_fields()
    with pytest.raises(MalformedPOSTRequest):
        b"".join(reader.file())


def test_fields_before_the_file_are_limited() -> None:
    raw = body(("key", "k"), ("x-amz-meta-a", "v" * 200), ("file", b"x" * 5000))
    with pytest.raises(MaxPostPreDataLengthExceeded) as err:
        FormReader(BOUNDARY.encode(), [raw], max_fields_bytes=100).read_fields()
    assert err.value.details == {"MaxPostPreDataLengthBytes": "100"}
    # The file itself does not count.
    FormReader(BOUNDARY.encode(), [raw], max_fields_bytes=1000).read_fields()


def test_not_a_multipart_body_or_not_utf8() -> None:
    with pytest.raises(MalformedPOSTRequest):
        FormReader(BOUNDARY.encode(), [b"key=value&file=x"]).read_fields()
    latin = body(("key", "k"), ("file", b"x")).replace(b"\r\n\r\nk\r\n", b"\r\n\r\n\xe9\r\n")
    with pytest.raises(MalformedPOSTRequest):
        FormReader(BOUNDARY.encode(), [latin]).read_fields()
