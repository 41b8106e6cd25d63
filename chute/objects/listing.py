"""Listing keys in order, S3-style: prefix, delimiter with common prefixes, pages.

A page without a delimiter is one range scan. With a delimiter, keys listed alone are
read by range scans that grow while such keys keep coming (16 rows, then 64, 256, ...);
from the first key that rolls up into a common prefix on, the rest of the page is one
walk in the database (:mod:`chute.catalog.listing`), which steps past each common prefix
in one index seek, however many keys sit below it. Rows are read only for keys listed
alone.

A marker names the last entry a client saw, and the listing resumes after it: a key,
or, with a delimiter, a common prefix (every key under it is then skipped). A marker
that is its own common prefix (``photos/`` with delimiter ``/``) is one: such a key is
listed as that prefix, never alone. Continuation tokens say which kind they hold.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from chute.catalog import CatalogSession, ObjectVersion, Rollup
from chute.errors import InvalidArgument
from chute.names import after_key, after_prefix

MAX_KEYS = 1000
#: Rows the first range scan of a delimiter listing reads; each next one reads 4 times more.
FIRST_SCAN = 16

#: An entry of a listing: a version, or a common prefix many keys roll up into.
Entry = ObjectVersion | str


@dataclass
class Listing:
    """One page of a bucket listing. ``next_token`` resumes it (ListObjectsV2);
    ``next_marker`` is its last key or common prefix (ListObjects' ``NextMarker``),
    which resumes it as ``start_after``."""

    objects: list[ObjectVersion] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_token: str | None = None
    next_marker: str | None = None


@dataclass
class VersionListing:
    """One page of a version listing; ``next_key`` and ``next_version_id`` resume it as
    ``key_marker`` and ``version_id_marker`` (no version id after a common prefix)."""

    versions: list[ObjectVersion] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_key: str | None = None
    next_version_id: str | None = None


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


def list_objects(
    session: CatalogSession,
    bucket_id: int,
    *,
    prefix: str = "",
    delimiter: str | None = None,
    start_after: str | None = None,
    token: str | None = None,
    max_keys: int = MAX_KEYS,
) -> Listing:
    """A page of the latest, non-deleted versions under ``prefix``, in key order, keys
    rolled up at ``delimiter``; after ``start_after`` (or ListObjects' ``marker``), or
    where ``token`` says."""
    _check(max_keys)
    if max_keys == 0:  # nothing asked for, nothing to resume (as MinIO answers)
        return Listing()
    rollup = Rollup(prefix, delimiter) if delimiter else None
    if token:
        kind, value = decode_token(token)
        start = _after(prefix, rollup, value, common=kind == "p")
    else:
        start = _after(prefix, rollup, start_after)
    source = _Source(session, bucket_id, _upper(prefix), latest=True)
    entries = _gather(source, start, rollup, max_keys + 1)
    objects, prefixes = _split(entries[:max_keys])
    listing = Listing(objects, prefixes, is_truncated=len(entries) > max_keys)
    if listing.is_truncated:
        last = entries[max_keys - 1]
        if isinstance(last, str):
            listing.next_marker, listing.next_token = last, encode_token("p", last)
        else:
            listing.next_marker, listing.next_token = last.key, encode_token("k", last.key)
    return listing


def list_versions(
    session: CatalogSession,
    bucket_id: int,
    *,
    prefix: str = "",
    delimiter: str | None = None,
    key_marker: str | None = None,
    version_id_marker: str | None = None,
    max_keys: int = MAX_KEYS,
) -> VersionListing:
    """A page of every version (delete markers too) under ``prefix``: keys in order, the
    newest version of a key first, keys rolled up at ``delimiter``. The listing resumes
    after ``key_marker``, or inside it after the version ``version_id_marker`` names."""
    _check(max_keys)
    after_id = None
    if key_marker is not None and version_id_marker is not None:
        marker = session.get_version(bucket_id, key_marker, version_id_marker)
        if marker is None:
            raise InvalidArgument("version-id-marker does not name a version of key")
        after_id = marker.id
    if max_keys == 0:
        return VersionListing()
    rollup = Rollup(prefix, delimiter) if delimiter else None
    start = _after(prefix, rollup, key_marker, after_id=after_id)
    source = _Source(session, bucket_id, _upper(prefix), latest=False)
    entries = _gather(source, start, rollup, max_keys + 1)
    versions, prefixes = _split(entries[:max_keys])
    listing = VersionListing(versions, prefixes, is_truncated=len(entries) > max_keys)
    if listing.is_truncated:
        last = entries[max_keys - 1]
        if isinstance(last, str):
            listing.next_key = last
        else:
            listing.next_key, listing.next_version_id = last.key, last.version_id
    return listing


def _check(max_keys: int) -> None:
    if not 0 <= max_keys <= MAX_KEYS:
        raise InvalidArgument(f"max-keys must be between 0 and {MAX_KEYS}")


def _upper(prefix: str) -> str | None:
    return after_prefix(prefix) if prefix else None


def _split(entries: list[Entry]) -> tuple[list[ObjectVersion], list[str]]:
    versions = [entry for entry in entries if not isinstance(entry, str)]
    return versions, [entry for entry in entries if isinstance(entry, str)]


@dataclass(frozen=True)
class _Place:
    """Where a scan starts: at key ``lower`` (inclusive), or, with ``after_id``, inside
    key ``lower`` after that version."""

    lower: str
    after_id: int | None = None


def _after(
    prefix: str,
    rollup: Rollup | None,
    marker: str | None,
    *,
    common: bool = False,
    after_id: int | None = None,
) -> _Place | None:
    """Where a listing under ``prefix`` resumes after ``marker``: a key (inside it after
    version ``after_id``, if given), or a common prefix (``common``, or a marker that is
    its own); ``None`` if nothing can follow."""
    if marker is None or marker < prefix:  # a marker before the prefix must not widen it
        return _Place(prefix)
    if rollup is not None and marker.startswith(prefix):
        common = common or rollup.common_prefix(marker) == marker
    if not common:
        return _Place(after_key(marker)) if after_id is None else _Place(marker, after_id)
    bound = after_prefix(marker)
    return None if bound is None else _Place(bound)


@dataclass
class _Source:
    """The catalog reads behind a listing: of live objects, or of every version."""

    session: CatalogSession
    bucket_id: int
    upper: str | None
    latest: bool

    def scan(self, place: _Place, limit: int) -> list[ObjectVersion]:
        """One range scan from ``place``."""
        if self.latest:
            return self.session.list_latest(self.bucket_id, place.lower, self.upper, limit)
        return self.session.list_versions(
            self.bucket_id, place.lower, self.upper, place.after_id, limit
        )

    def after(self, version: ObjectVersion) -> _Place:
        """Where the scan after ``version`` starts."""
        if self.latest:
            return _Place(after_key(version.key))
        return _Place(version.key, version.id)

    def walk(self, lower: str, rollup: Rollup, limit: int) -> list[Entry]:
        """Entries from key ``lower`` on, rolled up, in one walk."""
        walk = self.session.walk_latest if self.latest else self.session.walk_versions
        return walk(self.bucket_id, lower, self.upper, rollup, limit)


def _gather(
    source: _Source, start: _Place | None, rollup: Rollup | None, limit: int
) -> list[Entry]:
    """Up to ``limit`` entries from ``start`` on."""
    if start is None:
        return []
    if rollup is None:
        return list(source.scan(start, limit))
    entries: list[Entry] = []
    place: _Place | None = start
    scan = FIRST_SCAN
    while place is not None and len(entries) < limit:
        wanted = min(scan, limit - len(entries))
        rows = source.scan(place, wanted)
        common = None
        for row in rows:
            common = rollup.common_prefix(row.key)
            if common is not None:
                break
            entries.append(row)
        if common is None:
            if len(rows) < wanted:
                break
            place, scan = source.after(rows[-1]), scan * 4
            continue
        entries.append(common)
        bound = after_prefix(common)
        if bound is not None and rollup.past is not None and len(entries) < limit:
            return entries + source.walk(bound, rollup, limit - len(entries))
        # No walk cuts at a delimiter made of U+10FFFF alone: a seek per prefix, here.
        place, scan = (None if bound is None else _Place(bound)), 1
    return entries
