"""What the JSON API's parameters may hold, checked before any service sees them.

A value out of these ranges is answered 400 ``InvalidArgument`` (see
:mod:`chute.api.rest.errors`), never passed on to fail in the database: SQLite and
PostgreSQL store row ids as 64-bit signed integers, PostgreSQL refuses NUL characters in
text, and a time whose UTC form falls outside years 1 to 9999 cannot be stored at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

#: The largest row id (jobs, events): a 64-bit signed integer.
MAX_ID = 2**63 - 1


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return text


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise PydanticCustomError("missing_time_zone", "needs a time zone (e.g. 2026-01-01T00:00Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("time_out_of_range", "is out of range in UTC") from None


#: Text a parameter carries: names, keys, prefixes, markers.
Text = Annotated[str, AfterValidator(_no_nul)]
#: The id of a row (a job): 1 to :data:`MAX_ID`.
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A moment with its time zone, as UTC.
Moment = Annotated[datetime, AfterValidator(_utc)]
