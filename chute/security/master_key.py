"""The key that encrypts access key secrets at rest, kept outside the catalog.

A stolen catalog (a backup, a database dump) must not give away the secrets that sign
requests, yet the server needs each secret itself to check a signature: so secrets are
encrypted with AES-256-GCM under a master key that lives in a file of its own
(``auth.key_file``, by default ``master.key`` in the data folder), created on first start
readable by its owner only. Each secret gets a random 96-bit nonce, and its key id as
associated data, so a sealed secret copied onto another key's row does not open.

Every process that checks signatures needs the same file: servers on several machines
share it as they share the database.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
import uuid
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chute.errors import KeyFileError, SecretUnreadable

log = logging.getLogger(__name__)

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
#: The layout of a sealed secret: this byte, the nonce, then ciphertext and tag. Another
#: value will mean another scheme (a rotated or wrapped key).
_LAYOUT: Final = b"\x01"


class MasterKey:
    """A 256-bit key that seals and opens access key secrets."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a master key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(...)"

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random key (kept in memory only: tests, or before writing it out)."""
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """The key in ``path``; if there is none, a new one written there (mode 0600).
        Processes starting at once all end up with the key the first one wrote."""
        if not path.exists():
            _create(path)
        return cls(_read(path))

    def seal(self, key_id: str, secret: str) -> bytes:
        """``secret`` encrypted, bound to ``key_id``."""
        nonce = os.urandom(NONCE_BYTES)
        return _LAYOUT + nonce + self._aead.encrypt(nonce, secret.encode(), key_id.encode())

    def unseal(self, key_id: str, sealed: bytes) -> str:
        """The secret :meth:`seal` encrypted for ``key_id``; ``SecretUnreadable`` if it was
        sealed under another key, for another id, or has been altered."""
        layout, nonce, ciphertext = sealed[:1], sealed[1 : 1 + NONCE_BYTES], sealed[13:]
        if layout != _LAYOUT:
            raise SecretUnreadable(f"the secret of access key {key_id} has an unknown layout")
        try:
            return self._aead.decrypt(nonce, ciphertext, key_id.encode()).decode()
        except InvalidTag:
            raise SecretUnreadable(
                f"the secret of access key {key_id} does not open with this key file: is"
                " auth.key_file the one it was created with?"
            ) from None


def _create(path: Path) -> None:
    """Write a new key to ``path`` unless another process got there first: the key is
    written whole to a temporary file, then linked into place, so no reader ever sees a
    partial file and the first link wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    encoded = base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)) + b"\n"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(encoded)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
        log.info("created the key file %s, which encrypts access key secrets", path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the key file %s is readable by others: chmod 600 it", path)
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"{path} is not a key file (base64 of {KEY_BYTES} random bytes)")
    return key
