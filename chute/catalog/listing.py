"""Listing queries: ranges of keys in key order, and walks that roll keys up.

A *range scan* reads consecutive rows of an index from an inclusive lower bound: the
live objects from ``ix_object_versions_latest`` (bucket, key; latest versions only),
every version from the unique index on (bucket, key, version id).

A *walk* is one recursive query that steps from key to key in the database: from a key
listed alone to the next key, from the first key under a common prefix straight past
every key sharing it. Each step is one index seek that reads one row, so a page of
1,000 common prefixes costs 1,000 seeks and one round trip, however many keys sit under
each prefix; a round trip costs more than the seek on PostgreSQL, so a query per
prefix would not do. The bound past a common prefix ``P + X + D`` (prefix, the rest up
to the delimiter, the delimiter) is ``P + X + after_prefix(D)``: the database cuts the
key at the delimiter and appends what the caller worked out once (``Rollup.past``).
Lengths and positions are the database's own (characters of UTF-8 text, or bytes on a
``SQL_ASCII`` PostgreSQL): the cut is found by position in the key, never by a length
computed here. Keys hold no NUL, so the least key after ``k`` is ``k`` + U+0001 and
every bound is inclusive.

Rows become records by position, metadata decoded here (most objects have none):
SQLAlchemy's JSON type took about a third of the time a page of 1,000 rows cost.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from chute.blobs.checksums import Checksum
from chute.catalog.functions import holds, position
from chute.catalog.records import ObjectVersion, Rollup
from chute.catalog.schema import object_versions

_param = sa.bindparam
_table = object_versions

#: An entry of a listing: a version, or a common prefix many keys roll up into.
Entry = ObjectVersion | str


# --- versions as rows --------------------------------------------------------------------

#: JSON columns, read as text and decoded here.
_JSON_COLUMNS = {"user_metadata", "headers", "checksum"}
#: The columns of a version, in :class:`ObjectVersion`'s field order.
VERSION_COLUMNS = [
    sa.cast(column, sa.Text()).label(column.name) if column.name in _JSON_COLUMNS else column
    for column in _table.c
]


def version_of(row: Any) -> ObjectVersion:
    """The record of a row of :data:`VERSION_COLUMNS`: by position, the fields' order."""
    *fields, metadata, created_at, headers, checksum, parts_count = row
    return ObjectVersion(
        *(
            *fields,
            _decoded(metadata),
            created_at,
            _decoded(headers) or {},
            Checksum.from_json(_decoded(checksum)),
            parts_count,
        )
    )


def _decoded(text: str | None) -> Any:
    """A JSON column's value; most are empty (``{}``) or JSON ``null``."""
    if text is None or text == "null":
        return None
    if text == "{}":
        return {}
    return json.loads(text)


def _live(table: Any) -> list[sa.ColumnElement[Any]]:
    return [holds(table.c.is_latest), sa.not_(holds(table.c.is_delete_marker))]


# --- range scans -------------------------------------------------------------------------


def _range_latest(bounded: bool) -> sa.Select[Any]:
    key = _table.c.key
    query = sa.select(*VERSION_COLUMNS).where(
        _table.c.bucket_id == _param("bucket_id"), *_live(_table), key >= _param("lower")
    )
    if bounded:
        query = query.where(key < _param("upper"))
    return query.order_by(_table.c.bucket_id, key).limit(_param("limit"))


def _range_versions(bounded: bool, resuming: bool) -> sa.Select[Any]:
    key, row_id = _table.c.key, _table.c.id
    query = sa.select(*VERSION_COLUMNS).where(
        _table.c.bucket_id == _param("bucket_id"), key >= _param("lower")
    )
    if resuming:  # a range on the key for the index, then the versions older than after_id
        query = query.where(sa.or_(key > _param("lower"), row_id < _param("after_id")))
    if bounded:
        query = query.where(key < _param("upper"))
    return query.order_by(key, row_id.desc()).limit(_param("limit"))


# Built once (for each shape): executing a prebuilt statement skips SQLAlchemy's
# per-call construction and cache-key work.
_RANGE_LATEST = {bounded: _range_latest(bounded) for bounded in (False, True)}
_RANGE_VERSIONS = {
    (bounded, resuming): _range_versions(bounded, resuming)
    for bounded in (False, True)
    for resuming in (False, True)
}


def range_latest(
    conn: sa.Connection, bucket_id: int, lower: str, upper: str | None, limit: int
) -> list[ObjectVersion]:
    """Live objects with keys in ``[lower, upper)``, in key order."""
    params = {"bucket_id": bucket_id, "lower": lower, "upper": upper, "limit": limit}
    rows = conn.execute(_RANGE_LATEST[upper is not None], params).all()
    return [version_of(row) for row in rows]


def range_versions(
    conn: sa.Connection,
    bucket_id: int,
    lower: str,
    upper: str | None,
    after_id: int | None,
    limit: int,
) -> list[ObjectVersion]:
    """Every version with its key in ``[lower, upper)``, keys in order, the newest
    version of a key first; ``after_id`` resumes inside key ``lower``, after that row."""
    statement = _RANGE_VERSIONS[upper is not None, after_id is not None]
    params = {
        "bucket_id": bucket_id,
        "lower": lower,
        "upper": upper,
        "after_id": after_id,
        "limit": limit,
    }
    return [version_of(row) for row in conn.execute(statement, params).all()]


# --- walks -------------------------------------------------------------------------------


def _seek(bound: sa.ColumnElement[str], latest: bool, bounded: bool) -> sa.ScalarSelect[Any]:
    """The first key at or after ``bound``: one index seek, one row read."""
    table = _table.alias("seek")
    query = sa.select(table.c.key).where(
        table.c.bucket_id == _param("bucket_id"), table.c.key >= bound
    )
    if latest:
        query = query.where(*_live(table))
    if bounded:
        query = query.where(table.c.key < _param("upper"))
    return query.order_by(table.c.key).limit(1).scalar_subquery()


def _cut(key: sa.ColumnElement[str]) -> sa.ColumnElement[int]:
    """Where the delimiter starts in ``key`` after the prefix (counted from the
    prefix's end), 0 if it is not there."""
    rest = sa.func.substr(key, sa.func.length(_param("prefix")) + 1)
    return position(rest, _param("delimiter"))


def _walk(latest: bool, bounded: bool) -> sa.Select[Any]:
    seek = _seek(_param("lower"), latest, bounded)
    first = sa.select(sa.literal(1).label("n"), seek.label("key"))
    walk = first.cte("walk", recursive=True)
    at = walk.alias("at")
    cut = _cut(at.c.key)
    # Past a common prefix: the key cut before its delimiter, then ``past``; past a key
    # listed alone: the key and U+0001.
    length = sa.func.length(_param("prefix")) + cut - 1
    before = sa.func.substr(at.c.key, 1, length, type_=sa.Text())
    bound = sa.case((cut > 0, before + _param("past")), else_=at.c.key + "\x01")
    step = sa.select(at.c.n + 1, _seek(bound, latest, bounded)).where(
        at.c.key.is_not(None), at.c.n < _param("limit")
    )
    walk = walk.union_all(step)
    # Rows only for keys listed alone; a key under a common prefix stands for it, and
    # matches nothing (NULL) without an index probe.
    alone = sa.case((_cut(walk.c.key) == 0, walk.c.key))
    joined = sa.and_(
        _table.c.bucket_id == _param("bucket_id"),
        _table.c.key == alone,
        *([holds(_table.c.is_latest)] if latest else []),
    )
    order = [walk.c.n] if latest else [walk.c.n, _table.c.id.desc()]
    return (
        sa.select(walk.c.key.label("entry"), *VERSION_COLUMNS)
        .select_from(walk.outerjoin(_table, joined))
        .where(walk.c.key.is_not(None))
        .order_by(*order)
        .limit(_param("limit"))
    )


_WALKS = {
    (latest, bounded): _walk(latest, bounded)
    for latest in (True, False)
    for bounded in (False, True)
}


def walk(
    conn: sa.Connection,
    bucket_id: int,
    lower: str,
    upper: str | None,
    rollup: Rollup,
    limit: int,
    *,
    latest: bool,
) -> list[Entry]:
    """Up to ``limit`` entries from key ``lower`` on (keys below ``upper``), rolled up:
    live objects if ``latest``, else every version (a key's newest first). Each common
    prefix comes once, whichever key the walk met it by."""
    past = rollup.past
    if past is None:
        raise ValueError("a delimiter made only of U+10FFFF cannot be walked")
    params = {
        "bucket_id": bucket_id,
        "lower": lower,
        "upper": upper,
        "prefix": rollup.prefix,
        "delimiter": rollup.delimiter,
        "past": past,
        "limit": limit,
    }
    entries: list[Entry] = []
    for entry, *row in conn.execute(_WALKS[latest, upper is not None], params).all():
        if row[0] is not None:
            entries.append(version_of(row))
            continue
        common = rollup.common_prefix(entry)
        assert common is not None, "the database and Chute cut keys alike"
        entries.append(common)
    return entries
