"""Message bodies and message attributes: what SQS accepts, how big it counts them, and
the MD5 digests it answers with (SDKs check them, so they must be SQS's exactly).

A message attribute is ``{"DataType": ..., "StringValue": ...}`` or, for ``Binary``
types, ``{"DataType": ..., "BinaryValue": <base64>}``, as the JSON protocol carries it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from chute.sqs.errors import InvalidMessageContents, InvalidParameterValue, MissingParameter

#: Most message attributes on one message.
MAX_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 256
#: The characters SQS allows in a message (XML's, less the discouraged ones).
_INVALID_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\.[^\s]+)?$")
_RESERVED_PREFIXES = ("aws.", "amazon.")
#: How the digest encodes a value of each kind of data type.
_STRING, _BINARY = 1, 2

Attributes = dict[str, dict[str, str]]


def check_body(body: Any) -> str:
    """``body`` if it is a message body SQS accepts."""
    if not isinstance(body, str) or not body:
        raise MissingParameter("MessageBody")
    _check_characters(body)
    return body


def _check_characters(text: str) -> None:
    if _INVALID_CHARACTER.search(text):
        raise InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def check_attributes(given: Any, *, system: bool = False) -> Attributes:
    """Message attributes as the API gave them, checked (``system``: message system
    attributes, of which SQS knows only ``AWSTraceHeader``)."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidParameterValue("MessageAttributes must be a map.")
    what = "Message system attribute" if system else "Message (user) attribute"
    if len(given) > MAX_ATTRIBUTES and not system:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(given)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}]."
        )
    checked: Attributes = {}
    for name, value in given.items():
        if system:
            if name != "AWSTraceHeader":
                raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        else:
            _check_attribute_name(name)
        checked[name] = _attribute_value(what, name, value)
        if system and checked[name]["DataType"] != "String":
            raise InvalidParameterValue(
                "Message system attribute AWSTraceHeader must be of type String."
            )
    return checked


def _check_attribute_name(name: str) -> None:
    problem = None
    if not _ATTRIBUTE_NAME.match(name) or len(name) > MAX_ATTRIBUTE_NAME:
        problem = "can only contain alphanumeric characters, hyphens, underscores and periods"
    elif name.lower().startswith(_RESERVED_PREFIXES):
        problem = "cannot start with AWS. or Amazon."
    elif name.startswith(".") or name.endswith(".") or ".." in name:
        problem = "cannot start or end with a period nor have two in a row"
    if problem:
        raise InvalidParameterValue(f"Message (user) attribute name '{name}' {problem}.")


def _attribute_value(what: str, name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"{what} '{name}' must be a map.")
    data_type = value.get("DataType")
    if not isinstance(data_type, str) or not data_type:
        raise InvalidParameterValue(
            f"{what} '{name}' must contain a non-empty message attribute type."
        )
    if not _DATA_TYPE.match(data_type) or len(data_type) > MAX_ATTRIBUTE_NAME:
        raise InvalidParameterValue(
            f"The type of message (user) attribute '{name}' is invalid. You must use only "
            "the following supported type prefixes: Binary, Number, String."
        )
    if data_type.startswith("Binary"):
        raw = value.get("BinaryValue")
        if not isinstance(raw, str | bytes) or not raw:
            raise InvalidParameterValue(
                f"{what} '{name}' must contain a non-empty value of type 'Binary'."
            )
        encoded = raw if isinstance(raw, str) else base64.b64encode(raw).decode()
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValue(
                f"{what} '{name}' has a BinaryValue that is not base64."
            ) from None
        return {"DataType": data_type, "BinaryValue": encoded}
    text = value.get("StringValue")
    kind = data_type.split(".", 1)[0]
    if not isinstance(text, str) or not text:
        raise InvalidParameterValue(
            f"{what} '{name}' must contain a non-empty value of type '{kind}'."
        )
    if kind == "Number" and not _is_number(text):
        raise InvalidParameterValue(
            f"Can't cast the value of message (user) attribute '{name}' to a number."
        )
    _check_characters(text)
    return {"DataType": data_type, "StringValue": text}


def _is_number(text: str) -> bool:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return False
    if not number.is_finite():
        return False
    digits = number.as_tuple().digits
    return len(digits) <= 38 and (number == 0 or -128 <= number.adjusted() <= 126)


def size_of(body: str, attributes: Attributes) -> int:
    """How many bytes a message counts for against ``MaximumMessageSize``: its body's,
    and each attribute's name, type and value."""
    total = len(body.encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        total += len(name.encode()) + len(value["DataType"].encode()) + len(_value_bytes(value))
    return total


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Attributes) -> str:
    """SQS's digest of message attributes: by name, each its name, data type, a
    transport byte and its value, each length-prefixed (4 bytes, big-endian)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        binary = "BinaryValue" in value
        digest.update(_prefixed(name.encode()))
        digest.update(_prefixed(value["DataType"].encode()))
        digest.update(bytes([_BINARY if binary else _STRING]))
        digest.update(_prefixed(_value_bytes(value)))
    return digest.hexdigest()


def _value_bytes(value: Mapping[str, str]) -> bytes:
    if "BinaryValue" in value:
        return base64.b64decode(value["BinaryValue"])
    return value["StringValue"].encode("utf-8")


def _prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def selected(attributes: Attributes | None, names: Iterable[str]) -> Attributes:
    """The attributes a receive asked for by ``MessageAttributeNames``: names, ``All``
    or ``.*``, or prefixes ending in ``.*``."""
    if not attributes:
        return {}
    wanted = list(names)
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(name[:-1] for name in wanted if name.endswith(".*"))
    exact = set(wanted)
    return {
        name: value
        for name, value in attributes.items()
        if name in exact or (prefixes and name.startswith(prefixes))
    }
