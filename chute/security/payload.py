"""What ``x-amz-content-sha256`` says of a request's body: its SHA-256, unsigned, or
aws-chunked (signed chunks or not, trailing headers or not)."""

from __future__ import annotations

import hashlib
import re
from enum import Enum
from typing import Final

from chute.errors import InvalidArgument, NotImplementedFeature

EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
HEX_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")


class PayloadKind(Enum):
    """What ``x-amz-content-sha256`` says of the body, so how the caller reads it."""

    #: The body's SHA-256 in hex: the caller compares it once the body is read.
    SIGNED_HEX = "sha256"
    #: ``UNSIGNED-PAYLOAD``: the body is not covered by the signature.
    UNSIGNED = "UNSIGNED-PAYLOAD"
    #: aws-chunked, each chunk signed, chained from the request's signature.
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    #: aws-chunked with signed chunks, then trailing headers under a signature of their own.
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    #: aws-chunked, nothing signed, trailing headers (a checksum) at the end.
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def chunked(self) -> bool:
        """Whether the body is aws-chunked and must be decoded."""
        return self.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        """Whether every chunk carries a signature."""
        return self in (PayloadKind.STREAMING_SIGNED, PayloadKind.STREAMING_SIGNED_TRAILER)

    @property
    def has_trailer(self) -> bool:
        """Whether trailing headers follow the last chunk."""
        return self.value.endswith("-TRAILER")


_LITERAL_PAYLOADS: Final = {kind.value: kind for kind in PayloadKind if kind.value != "sha256"}
_ECDSA_PAYLOADS: Final = (
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
)


def payload_kind(value: str) -> PayloadKind:
    """The kind of an ``x-amz-content-sha256`` value; 400 for a value S3 would refuse,
    501 for the ECDSA (Signature Version 4A) streaming kinds."""
    if HEX_SHA256.fullmatch(value):
        return PayloadKind.SIGNED_HEX
    if value in _LITERAL_PAYLOADS:
        return _LITERAL_PAYLOADS[value]
    if value in _ECDSA_PAYLOADS:
        raise NotImplementedFeature(f"x-amz-content-sha256 {value} is not implemented")
    allowed = ", ".join([*_LITERAL_PAYLOADS, *_ECDSA_PAYLOADS])
    raise InvalidArgument(f"x-amz-content-sha256 must be {allowed} or a valid sha256 value.")
