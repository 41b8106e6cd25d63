"""The checksums S3 clients ask for: CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256.

Clients send one with every upload (``x-amz-checksum-*``); Chute computes it while the
bytes stream in, refuses the upload if it differs, and keeps it with the version. The
CRCs come from ``awscrt`` (botocore's own implementation), the hashes from ``hashlib``.

A multipart object has a checksum of one of two types, as S3 defines them:
``FULL_OBJECT`` is the checksum of all its bytes (for the CRCs, combined from the parts'
without reading them again); ``COMPOSITE`` is the checksum of the parts' checksums,
followed by ``-N`` for N parts.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from awscrt import checksums as crt

from chute.errors import BadDigest, InvalidRequest


class ChecksumAlgorithm(StrEnum):
    """An algorithm, named as S3 names it (``x-amz-checksum-<lower-case name>``)."""

    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"

    @property
    def header(self) -> str:
        """The request and response header carrying a value of this algorithm."""
        return "x-amz-checksum-" + self.value.lower()

    @property
    def is_crc(self) -> bool:
        return self in _CRC_FUNCTIONS

    @classmethod
    def parse(cls, name: str) -> ChecksumAlgorithm:
        """The algorithm called ``name`` (any case); ``InvalidRequest`` if unknown."""
        try:
            return cls(name.upper())
        except ValueError:
            raise InvalidRequest(f"checksum algorithm {name!r} is not supported") from None


class ChecksumType(StrEnum):
    """What a multipart object's checksum covers (a single-part one is FULL_OBJECT)."""

    FULL_OBJECT = "FULL_OBJECT"
    COMPOSITE = "COMPOSITE"


_CRC_FUNCTIONS: dict[ChecksumAlgorithm, Any] = {
    ChecksumAlgorithm.CRC32: crt.crc32,
    ChecksumAlgorithm.CRC32C: crt.crc32c,
    ChecksumAlgorithm.CRC64NVME: crt.crc64nvme,
}
_COMBINE: dict[ChecksumAlgorithm, Any] = {
    ChecksumAlgorithm.CRC32: crt.combine_crc32,
    ChecksumAlgorithm.CRC32C: crt.combine_crc32c,
    ChecksumAlgorithm.CRC64NVME: crt.combine_crc64nvme,
}
_WIDTH = {ChecksumAlgorithm.CRC32: 4, ChecksumAlgorithm.CRC32C: 4, ChecksumAlgorithm.CRC64NVME: 8}


class Hasher(Protocol):
    """Bytes in, a base64 digest out (``chute.security.chunked`` checks trailers with it)."""

    def update(self, data: bytes) -> None: ...

    def b64digest(self) -> str: ...


class Checksummer:
    """Computes one algorithm's checksum over bytes as they pass."""

    __slots__ = ("_crc", "_function", "_hash", "algorithm")

    def __init__(self, algorithm: ChecksumAlgorithm) -> None:
        self.algorithm = algorithm
        self._function = _CRC_FUNCTIONS.get(algorithm)
        self._crc = 0
        self._hash = None if self._function else hashlib.new(algorithm.value.lower())

    def update(self, data: bytes) -> None:
        if self._function is not None:
            self._crc = self._function(data, self._crc)
        elif self._hash is not None:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self._hash is not None:
            return self._hash.digest()
        return self._crc.to_bytes(_WIDTH[self.algorithm], "big")

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def checksum_of(algorithm: ChecksumAlgorithm, data: bytes) -> str:
    """The base64 checksum of ``data``."""
    checksummer = Checksummer(algorithm)
    checksummer.update(data)
    return checksummer.b64digest()


@dataclass(frozen=True, slots=True)
class Checksum:
    """A checksum kept with a version: algorithm, base64 value (``-N`` ends a composite
    one) and type."""

    algorithm: ChecksumAlgorithm
    value: str
    type: ChecksumType = ChecksumType.FULL_OBJECT

    def to_json(self) -> dict[str, str]:
        return {"algorithm": self.algorithm.value, "value": self.value, "type": self.type.value}

    @classmethod
    def from_json(cls, data: dict[str, str] | None) -> Checksum | None:
        if not data:
            return None
        return cls(ChecksumAlgorithm(data["algorithm"]), data["value"], ChecksumType(data["type"]))


class ExpectedChecksum:
    """The checksum a client declared for a body, checked once the body has passed.

    ``value`` may arrive only after the body (an aws-chunked trailer sets it), so the
    check runs when the body ends, before the write is recorded: a mismatch raises from
    the body's last step and nothing is stored."""

    def __init__(
        self, algorithm: ChecksumAlgorithm, value: str | None = None, *, required: bool = True
    ) -> None:
        self.algorithm = algorithm
        self.value = value
        #: Whether a value must arrive; if not, the checksum is only computed and kept
        #: (as S3 keeps a CRC64NVME of every object a client sent none for).
        self.required = required
        self.computed: str | None = None
        self._checksummer = Checksummer(algorithm)

    def update(self, data: bytes) -> None:
        self._checksummer.update(data)

    def b64digest(self) -> str:
        return self._checksummer.b64digest()

    def through(self, body: Iterable[bytes]) -> Iterator[bytes]:
        """``body``, checksummed on the way; raises ``BadDigest`` at its end if the
        declared value differs (or was never given)."""
        for chunk in body:
            self._checksummer.update(chunk)
            yield chunk
        self.check()

    def check(self) -> str:
        """The computed value, after comparing it with the declared one."""
        self.computed = self._checksummer.b64digest()
        if self.value is None and not self.required:
            return self.computed
        if self.value is None:
            raise BadDigest(f"no {self.algorithm.header} value arrived with the body")
        if self.value != self.computed:
            raise BadDigest(
                f"The {self.algorithm.header} you specified did not match the calculated checksum."
            )
        return self.computed

    def result(self) -> Checksum:
        """What to keep with the version (after :meth:`check`)."""
        assert self.computed is not None, "the body has not been checked"
        return Checksum(self.algorithm, self.computed)


def composite(algorithm: ChecksumAlgorithm, parts: Sequence[str]) -> str:
    """S3's COMPOSITE checksum: the checksum of the parts' binary checksums, ``-N``."""
    checksummer = Checksummer(algorithm)
    for value in parts:
        checksummer.update(base64.b64decode(value))
    return f"{checksummer.b64digest()}-{len(parts)}"


def combine(algorithm: ChecksumAlgorithm, parts: Sequence[tuple[str, int]]) -> str:
    """The FULL_OBJECT checksum of bytes made of parts ``(base64 CRC, size)``, without
    reading them: only CRCs combine this way."""
    if not algorithm.is_crc:
        raise InvalidRequest(f"{algorithm} checksums cannot be of type FULL_OBJECT")
    join, width = _COMBINE[algorithm], _WIDTH[algorithm]
    total = 0
    for index, (value, size) in enumerate(parts):
        crc = int.from_bytes(base64.b64decode(value), "big")
        total = crc if index == 0 else join(total, crc, size)
    return base64.b64encode(total.to_bytes(width, "big")).decode("ascii")
