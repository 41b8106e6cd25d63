"""The master key: secrets sealed at rest, the key file made once, owner-only."""

from __future__ import annotations

import base64
import logging
import stat
import threading
from pathlib import Path

import pytest

from chute.errors import KeyFileError, SecretUnreadable
from chute.security.master_key import KEY_BYTES, MasterKey


def test_a_sealed_secret_opens_for_its_key_id_only() -> None:
    master = MasterKey.generate()
    sealed = master.seal("CKAAAA", "s3cret-value")
    assert b"s3cret-value" not in sealed
    assert master.unseal("CKAAAA", sealed) == "s3cret-value"
    with pytest.raises(SecretUnreadable):
        master.unseal("CKBBBB", sealed)  # copied onto another key's row


def test_each_seal_has_its_own_nonce() -> None:
    master = MasterKey.generate()
    assert master.seal("CK1", "same") != master.seal("CK1", "same")


def test_another_key_or_an_altered_secret_does_not_open() -> None:
    sealed = MasterKey.generate().seal("CK1", "secret")
    with pytest.raises(SecretUnreadable, match=r"auth\.key_file"):
        MasterKey.generate().unseal("CK1", sealed)
    master = MasterKey.generate()
    altered = bytearray(master.seal("CK1", "secret"))
    altered[-1] ^= 1
    with pytest.raises(SecretUnreadable):
        master.unseal("CK1", bytes(altered))
    with pytest.raises(SecretUnreadable, match="layout"):
        master.unseal("CK1", b"\x09" + bytes(altered[1:]))


def test_the_key_file_is_created_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    first = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_bytes())) == KEY_BYTES
    content = path.read_bytes()
    again = MasterKey.load_or_create(path)
    assert path.read_bytes() == content
    assert again.unseal("CK1", first.seal("CK1", "x")) == "x"
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temporary left


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    keys: list[MasterKey] = []
    threads = [
        threading.Thread(target=lambda: keys.append(MasterKey.load_or_create(path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sealed = keys[0].seal("CK1", "x")
    assert all(key.unseal("CK1", sealed) == "x" for key in keys)


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        MasterKey.load_or_create(path)
    assert "chmod 600" in caplog.text


@pytest.mark.parametrize("content", [b"not base64!", base64.b64encode(b"short")])
def test_a_broken_key_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match="is not a key file"):
        MasterKey.load_or_create(path)


def test_the_key_is_never_shown() -> None:
    assert repr(MasterKey.generate()) == "MasterKey(...)"
