"""Bucket-name and key rules, as S3 states them, plus two of Chute's own.

Keys are arbitrary UTF-8 up to 1024 bytes, as in S3, except that Chute refuses NUL and
``.``/``..`` path segments: processors and exporters map keys to paths, and such keys are
the classic way out of a folder. (Blobs are named by Chute, so no key reaches the disk.)
"""

from __future__ import annotations

import ipaddress
import re

from chute.errors import InvalidArgument, InvalidBucketName, InvalidKey, MetadataTooLarge

#: The account id in every ARN and queue URL Chute makes (AWS's form; one per Chute).
ACCOUNT = "000000000000"
#: The version id of objects written while versioning is off or suspended (S3's).
NULL_VERSION = "null"
MAX_KEY_BYTES = 1024
#: User metadata travels in HTTP headers: names are tokens, values printable ASCII, and
#: all of it at most 2 KiB, as in S3.
MAX_METADATA_BYTES = 2048
MAX_CONTENT_TYPE = 255
_META_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> str:
    """Return ``name`` if it follows S3's general-purpose bucket naming rules."""
    problem = _bucket_name_problem(name)
    if problem:
        raise InvalidBucketName(f"invalid bucket name {name!r}: {problem}")
    return name


def _bucket_name_problem(name: str) -> str | None:
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_CHARS.match(name):
        return (
            "only lowercase letters, digits, dots and hyphens, "
            "beginning and ending with a letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent dots"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "uses a reserved prefix or suffix"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "must not be formatted as an IP address"


def check_key(key: str) -> str:
    """Return ``key`` if Chute accepts it as an object key."""
    if not key:
        raise InvalidKey("the key must not be empty")
    problem = _key_text_problem(key, "key")
    if problem:
        raise InvalidKey(problem)
    if any(segment in {".", ".."} for segment in re.split(r"[/\\]", key)):
        raise InvalidKey("the key must not contain '.' or '..' path segments")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if some key could start with it (no NUL, at most 1024 UTF-8 bytes)."""
    problem = _key_text_problem(prefix, "prefix")
    if problem:
        raise InvalidArgument(problem)
    return prefix


def _key_text_problem(text: str, what: str) -> str | None:
    """What keeps ``text`` from being (the start of) a key, if anything."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return f"the {what} is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"the {what} is {size} bytes long; the limit is {MAX_KEY_BYTES}"
    if "\x00" in text:
        return f"the {what} must not contain NUL characters"
    return None


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """User metadata, names lower-cased, if every entry can travel as an HTTP header."""
    size = sum(len(name) + len(value) for name, value in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise MetadataTooLarge(f"user metadata is {size} bytes; the limit is 2 KiB")
    for name, value in metadata.items():
        if not _META_NAME.match(name):
            raise InvalidArgument(f"metadata name {name!r} may only hold A-Z a-z 0-9 _ -")
        if not _is_header_text(value):
            raise InvalidArgument(f"metadata {name!r} must be printable ASCII")
    return {name.lower(): value for name, value in metadata.items()}


#: The content headers an object keeps and returns, as S3 does (Content-Type aside).
CONTENT_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)
_MAX_CONTENT_HEADER = 1024


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Content headers to keep with an object, names lower-cased, if each is one of
    :data:`CONTENT_HEADERS` with a printable value."""
    checked = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower not in CONTENT_HEADERS:
            raise InvalidArgument(f"{name!r} is not a content header an object keeps")
        if len(value) > _MAX_CONTENT_HEADER or not _is_header_text(value):
            raise InvalidArgument(f"{name} must be printable ASCII, at most 1 KiB")
        checked[lower] = value
    return checked


def check_content_type(content_type: str) -> str:
    """``content_type`` if it is a plausible header value of at most 255 characters."""
    if len(content_type) > MAX_CONTENT_TYPE or not _is_header_text(content_type):
        raise InvalidArgument("Content-Type must be printable ASCII, at most 255 characters")
    return content_type


def _is_header_text(value: str) -> bool:
    return value.isascii() and (value.isprintable() or value == "")


def after_prefix(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``, or ``None``
    when there is none. Code-point order is UTF-8 byte order, the order keys sort in."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def after_key(key: str) -> str:
    """The least key greater than ``key``: no key holds a NUL, so ``key`` and U+0001.
    A listing that resumes after a key starts there, so every bound it seeks from is
    inclusive."""
    return key + "\x01"


def decode_key(raw: bytes) -> str:
    """Decode a key received as bytes; invalid UTF-8 is an ``InvalidKey`` error."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidKey("the key is not valid UTF-8") from None


def bucket_of_host(host: str, domain: str | None) -> str | None:
    """The bucket a virtual-host style Host header names under ``domain`` (``s3.domain``):
    ``photos`` for ``photos.s3.example.test:9000``; ``None`` for any other host."""
    if domain is None:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    suffix = "." + domain
    if name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return None
