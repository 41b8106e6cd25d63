"""Listing keys in order, S3-style: prefix, delimiter with common prefixes, pages.

A common prefix is skipped in one step (the next query starts just past every key that
shares it), so a delimiter listing costs one index range scan per page and per prefix,
however many keys sit below each prefix.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from chute.catalog import CatalogSession, ObjectVersion
from chute.errors import InvalidArgument

MAX_KEYS = 1000


@dataclass
class Listing:
    """One page of a bucket listing."""

    objects: list[ObjectVersion] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_token: str | None = None


@dataclass
class VersionListing:
    """One page of a version listing; ``next_key``/``next_version_id`` resume it."""

    versions: list[ObjectVersion] = field(default_factory=list)
    is_truncated: bool = False
    next_key: str | None = None
    next_version_id: str | None = None


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


def encode_token(kind: str, value: str) -> str:
    raw = (kind + value).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raw = ""
    if raw[:1] not in {"k", "p"} or "\x00" in raw:  # no key holds a NUL
        raise InvalidArgument("the continuation token is not valid")
    return raw[0], raw[1:]


class _Cursor:
    """Where the next range scan starts: after a key, or at a bound (inclusive)."""

    def __init__(self, lower: str, inclusive: bool) -> None:
        self.lower, self.inclusive = lower, inclusive

    def past_key(self, key: str) -> None:
        self.lower, self.inclusive = key, False

    def past_prefix(self, prefix: str) -> bool:
        bound = after_prefix(prefix)
        if bound is None:
            return False
        self.lower, self.inclusive = bound, True
        return True


def _start(prefix: str, start_after: str | None, token: str | None) -> _Cursor | None:
    cursor = _Cursor(prefix, True)
    if token:
        kind, value = decode_token(token)
        if kind == "p":
            return cursor if value < prefix or cursor.past_prefix(value) else None
        after = value
    else:
        after = start_after or ""
    if after >= prefix:  # a marker before the prefix must not widen the listing
        cursor.past_key(after)
    return cursor


def list_objects(
    session: CatalogSession,
    bucket_id: int,
    prefix: str = "",
    delimiter: str | None = None,
    start_after: str | None = None,
    token: str | None = None,
    max_keys: int = MAX_KEYS,
) -> Listing:
    """A page of the latest, non-deleted versions under ``prefix``, in key order."""
    if not 0 <= max_keys <= MAX_KEYS:
        raise InvalidArgument(f"max-keys must be between 0 and {MAX_KEYS}")
    listing = Listing()
    if max_keys == 0:  # nothing asked for, nothing to resume (as MinIO answers)
        return listing
    cursor = _start(prefix, start_after, token)
    upper = after_prefix(prefix) if prefix else None
    last: tuple[str, str] | None = None
    while cursor is not None:
        room = max_keys - len(listing.objects) - len(listing.common_prefixes)
        batch = session.list_latest(bucket_id, cursor.lower, upper, cursor.inclusive, room + 1)
        if not batch:
            break
        if room == 0:
            listing.is_truncated = True
            break
        for version in batch[:room]:
            rest = version.key[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                listing.common_prefixes.append(common)
                last = ("p", common)
                if not cursor.past_prefix(common):
                    cursor = None
                break
            cursor.past_key(version.key)
            listing.objects.append(version)
            last = ("k", version.key)
        else:
            if len(batch) <= room:
                break
    if listing.is_truncated and last is not None:
        listing.next_token = encode_token(*last)
    return listing


def list_versions(
    session: CatalogSession,
    bucket_id: int,
    prefix: str = "",
    key_marker: str | None = None,
    version_id_marker: str | None = None,
    max_keys: int = MAX_KEYS,
) -> VersionListing:
    """A page of every version (delete markers too) under ``prefix``: keys in order, the
    newest version of a key first. ``version_id_marker`` resumes inside ``key_marker``,
    after that version."""
    if not 0 <= max_keys <= MAX_KEYS:
        raise InvalidArgument(f"max-keys must be between 0 and {MAX_KEYS}")
    after_id = None
    if key_marker is not None and version_id_marker is not None:
        marker = session.get_version(bucket_id, key_marker, version_id_marker)
        if marker is None:
            raise InvalidArgument("version-id-marker does not name a version of key")
        after_id = marker.id
    if max_keys == 0:
        return VersionListing()
    upper = after_prefix(prefix) if prefix else None
    lower = prefix
    if key_marker is None or key_marker < prefix:
        after_id = None  # a marker before the prefix must not widen the listing
    else:
        # Resume after the marker's versions: all of them (no version id marker; no row
        # id is below 1) or those older than the version named. Not key_marker + NUL:
        # PostgreSQL refuses NUL in text.
        lower = key_marker
        after_id = after_id or 0
    rows = session.list_versions(bucket_id, lower, upper, after_id, max_keys + 1)
    page = VersionListing(versions=rows[:max_keys], is_truncated=len(rows) > max_keys)
    if page.is_truncated and page.versions:
        page.next_key = page.versions[-1].key
        page.next_version_id = page.versions[-1].version_id
    return page
