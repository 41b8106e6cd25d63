"""SigV4's canonical forms of a request's path, query string and headers.

What is signed is what the server reads. A path or query is percent-decoded once (in a
query ``+`` is a space, as web frameworks read it) and encoded again strictly: RFC 3986's
unreserved characters as they are, every other byte as ``%XX`` in uppercase hex. Two
spellings of one request (``$`` or ``%24``, ``%7e`` or ``~``) therefore sign alike, and an
encoding trick cannot change what a valid signature covers.

S3 signs the path as sent, encoded once and never normalised (``//`` and ``..`` are part
of a key). Other AWS services normalise the path (RFC 3986 dot segments, empty segments)
and encode the path as sent once more, so ``%20`` is signed as ``%2520``.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, unquote_to_bytes


def canonical_uri(raw_path: bytes, *, double_encode: bool) -> str:
    """The canonical URI of ``raw_path`` (the path as sent, still percent-encoded):
    S3's (each segment decoded and encoded again, ``/`` kept, an encoded ``%2F`` kept as
    one) or, with ``double_encode``, other services'."""
    if double_encode:
        return quote(_remove_dot_segments(raw_path) or b"/", safe="/~")
    if not raw_path:
        return "/"
    return "/".join(_encode(unquote_to_bytes(segment)) for segment in raw_path.split(b"/"))


def canonical_query(query: bytes, *, exclude: bytes | None = None) -> str:
    """The canonical query string: every parameter but ``exclude`` (a presigned URL's
    ``X-Amz-Signature``), names and values encoded strictly, sorted by name then value,
    repeated names kept, a name without ``=`` given an empty value."""
    pairs = sorted(
        (_encode(name), _encode(value))
        for name, value in query_parameters(query)
        if name != exclude
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def query_parameters(query: bytes) -> list[tuple[bytes, bytes]]:
    """The parameters of a raw query string, each name and value decoded once, in order."""
    pairs = []
    for part in query.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((_decode_query(name), _decode_query(value)))
    return pairs


def canonical_headers(headers: Sequence[tuple[str, str]], names: Sequence[str]) -> str:
    """One ``name:value`` line for each of ``names``, in that order: each value trimmed
    and its inner runs of white space made one space, repeated headers joined with ``,``,
    an absent header given an empty value."""
    lines = []
    for name in names:
        values = (" ".join(value.split()) for sent, value in headers if sent == name)
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def _encode(data: bytes) -> str:
    # quote() keeps letters, digits and "-._~": exactly RFC 3986's unreserved set.
    return quote(data, safe="")


def _decode_query(data: bytes) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" "))


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 section 5.2.4, and empty segments dropped, as AWS services normalise."""
    kept: list[bytes] = []
    for segment in path.split(b"/"):
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment not in (b"", b"."):
            kept.append(segment)
    lead = b"/" if path.startswith(b"/") else b""
    trail = b"/" if path.endswith(b"/") and kept else b""
    return lead + b"/".join(kept) + trail
