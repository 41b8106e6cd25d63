"""Receipt handles: which message a receive handed out, and which receive.

A handle carries the queue's and the message's row ids and the token of the receive,
signed with the queue's secret (HMAC-SHA256, cut to 16 bytes), in URL-safe base64. A
handle that does not verify is forged or mangled (``ReceiptHandleIsInvalid``); one that
verifies but whose token is no longer the message's is stale: SQS then accepts a delete
and deletes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass

from chute.sqs.errors import ReceiptHandleIsInvalid

_IDS = struct.Struct(">QQ")
_TOKEN_BYTES = 16
_MAC_BYTES = 16
_LENGTH = _IDS.size + _TOKEN_BYTES + _MAC_BYTES


@dataclass(frozen=True, slots=True)
class Receipt:
    queue_id: int
    row_id: int
    #: The receive's token (hex), as the message row keeps it.
    token: str


def new_token() -> str:
    return secrets.token_hex(_TOKEN_BYTES)


def new_secret() -> str:
    return secrets.token_hex(32)


def issue(secret: str, receipt: Receipt) -> str:
    """The receipt handle of ``receipt``, signed with the queue's ``secret``."""
    payload = _IDS.pack(receipt.queue_id, receipt.row_id) + bytes.fromhex(receipt.token)
    return base64.urlsafe_b64encode(payload + _mac(secret, payload)).decode().rstrip("=")


def read(handle: str, secret: str, queue_id: int) -> Receipt:
    """The receipt ``handle`` stands for, if it is a handle of queue ``queue_id``
    signed with its ``secret``; raises ``ReceiptHandleIsInvalid`` otherwise."""
    raw = _decode(handle)
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    found_queue, row_id = _IDS.unpack(payload[: _IDS.size])
    if found_queue != queue_id:
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    return Receipt(found_queue, row_id, payload[_IDS.size :].hex())


def queue_of(handle: str) -> int | None:
    """The queue row id a handle names, unverified (``None``: not a handle at all)."""
    try:
        raw = _decode(handle)
    except ReceiptHandleIsInvalid:
        return None
    queue_id: int = _IDS.unpack(raw[: _IDS.size])[0]
    return queue_id


def _decode(handle: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _LENGTH:
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    return raw


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]
