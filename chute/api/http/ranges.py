"""HTTP byte ranges (RFC 9110) for object reads: one range, as S3 supports."""

from __future__ import annotations

import re

from chute.errors import InvalidRange

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` a ``Range`` header asks of an object of ``size`` bytes.

    ``None`` means the whole object: no header, or one this server ignores (malformed,
    or several ranges), as RFC 9110 allows. An unsatisfiable range raises
    :class:`InvalidRange` (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if size == 0:
        raise InvalidRange(size, "an empty object has no byte ranges")
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise InvalidRange(size, "a suffix range of zero bytes is not satisfiable")
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise InvalidRange(size, f"range starts at byte {start}; the object has {size} bytes")
    end = size if last == "" else min(int(last) + 1, size)
    return start, end
