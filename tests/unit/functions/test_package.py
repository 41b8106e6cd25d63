"""Code and layers from zips: unpacked once by content, and never outside their folder
(no absolute paths, ``..`` or symbolic links), nor past Lambda's unzipped size, even
when the zip lies about its sizes."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from chute.errors import InvalidParameterValue
from chute.functions import package
from chute.functions.package import code_folder


def zipped(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return path


def test_a_folder_is_used_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    assert code_folder(tmp_path / "code", tmp_path / "cache") == tmp_path / "code"


def test_a_zip_is_unpacked_once_by_its_content(tmp_path: Path) -> None:
    first = zipped(tmp_path / "a.zip", {"app.py": b"x = 1\n", "pkg/mod.py": b"y = 2\n"})
    unpacked = code_folder(first, tmp_path / "cache")
    assert (unpacked / "app.py").read_bytes() == b"x = 1\n"
    assert (unpacked / "pkg" / "mod.py").read_bytes() == b"y = 2\n"
    same = zipped(tmp_path / "b.zip", {"app.py": b"x = 1\n", "pkg/mod.py": b"y = 2\n"})
    assert code_folder(same, tmp_path / "cache") == unpacked
    changed = zipped(tmp_path / "c.zip", {"app.py": b"x = 3\n"})
    other = code_folder(changed, tmp_path / "cache")
    assert other != unpacked
    assert not (other / "pkg").exists()  # a new version never mixes with the old


def test_modes_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "tool.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        info = zipfile.ZipInfo("bin/tool")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        bundle.writestr(info, b"#!/bin/sh\n")
    unpacked = code_folder(path, tmp_path / "cache")
    assert (unpacked / "bin" / "tool").stat().st_mode & 0o111


def test_unpacked_code_is_readable_by_all_and_writable_by_none_but_chute(
    tmp_path: Path,
) -> None:
    path = tmp_path / "open.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        info = zipfile.ZipInfo("pkg/anyone.py")
        info.external_attr = (stat.S_IFREG | 0o777) << 16
        bundle.writestr(info, b"x = 1\n")
        private = zipfile.ZipInfo("private.py")
        private.external_attr = (stat.S_IFREG | 0o600) << 16
        bundle.writestr(private, b"y = 2\n")
    unpacked = code_folder(path, tmp_path / "cache")
    assert stat.S_IMODE((unpacked / "pkg" / "anyone.py").stat().st_mode) == 0o755
    assert stat.S_IMODE((unpacked / "private.py").stat().st_mode) == 0o644
    for folder in (unpacked, unpacked / "pkg"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    "entries",
    [
        [("a", b"file"), ("a/b.py", b"x = 1")],  # a file, then a folder of that name
        [("a/b.py", b"x = 1"), ("a", b"file")],  # a folder, then a file of that name
        [(".", b"file")],
    ],
)
def test_entries_that_cannot_all_exist_are_refused(
    tmp_path: Path, entries: list[tuple[str, bytes]]
) -> None:
    path = tmp_path / "clash.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
    with pytest.raises(InvalidParameterValue, match="Could not unzip"):
        code_folder(path, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    "name", ["../escape.py", "a/../../escape.py", "/etc/passwd", "C:/windows.py", "a\\..\\..\\b"]
)
def test_entries_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    bundle = zipped(tmp_path / "evil.zip", {"ok.py": b"", name: b"boom"})
    with pytest.raises(InvalidParameterValue, match="points outside"):
        code_folder(bundle, tmp_path / "cache")
    assert not (tmp_path / "escape.py").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # nothing left half unpacked


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        info = zipfile.ZipInfo("secrets")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, "/etc/shadow")
    with pytest.raises(InvalidParameterValue, match="symbolic link"):
        code_folder(path, tmp_path / "cache")


def test_a_zip_bomb_is_stopped_at_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package, "MAX_UNZIPPED_BYTES", 1_000_000)
    bomb = zipped(tmp_path / "bomb.zip", {"zeros.bin": b"\0" * 5_000_000})
    assert bomb.stat().st_size < 50_000
    with pytest.raises(InvalidParameterValue, match="unzips to over 1000000 bytes"):
        code_folder(bomb, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_zip_that_lies_about_its_sizes_is_stopped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package, "MAX_UNZIPPED_BYTES", 1_000_000)
    honest = io.BytesIO()
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("zeros.bin", b"\0" * 5_000_000)
    data = bytearray(honest.getvalue())
    # Rewrite the declared uncompressed size (local header and central directory) to 10.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    with pytest.raises(InvalidParameterValue):
        code_folder(liar, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_too_many_entries_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "MAX_ENTRIES", 10)
    many = zipped(tmp_path / "many.zip", {f"f{i}.py": b"" for i in range(11)})
    with pytest.raises(InvalidParameterValue, match="over 10 entries"):
        code_folder(many, tmp_path / "cache")


def test_what_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "code.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InvalidParameterValue, match="Could not unzip"):
        code_folder(tmp_path / "code.zip", tmp_path / "cache")
    with pytest.raises(InvalidParameterValue, match="neither a folder nor a zip"):
        code_folder(tmp_path / "missing", tmp_path / "cache")
