"""``Content-MD5`` (RFC 1864): the base64 MD5 a client sends with a body."""

from __future__ import annotations

import base64
import binascii

from chute.errors import InvalidDigest


def content_md5(header: str | None) -> str | None:
    """The hex MD5 a ``Content-MD5`` header states; 400 if it is not one."""
    if header is None:
        return None
    try:
        digest = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise InvalidDigest("Content-MD5 must be the base64 of a 16-byte MD5 digest")
    return digest.hex()
