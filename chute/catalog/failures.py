"""What a failing database means to Chute's callers.

A database that cannot be reached, that drops the connection (restarted, a backend
terminated), or that waits too long for a lock is a failure a client should retry:
:class:`~chute.errors.CatalogUnavailable` (503). A full disk under the database is
:class:`~chute.errors.StorageFull` (507). Anything else the database refuses (a broken
constraint, bad SQL) is a bug and stays as it is, to answer 500 and be logged.

The translated error's message is for clients and says nothing of the database's
address; what the database said stays in its ``__cause__``, for the server's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from chute.errors import CatalogUnavailable, ChuteError, StorageFull

#: SQLite's result code for a full disk or database (``SQLITE_FULL``).
SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE for a full disk (``disk_full``).
PG_DISK_FULL = "53100"


def translate(exc: sa.exc.SQLAlchemyError) -> ChuteError | None:
    """The Chute error ``exc`` stands for, or ``None`` if it is not the database being
    unavailable or full."""
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        full = getattr(orig, "sqlite_errorcode", None) == SQLITE_FULL
        if full or getattr(orig, "sqlstate", None) == PG_DISK_FULL:
            return StorageFull("the catalog database has no room left")
        if exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            return CatalogUnavailable()
        return None
    if isinstance(exc, sa.exc.TimeoutError):  # every pooled connection stayed busy
        return CatalogUnavailable("the catalog database is overloaded; please try again")
    return None


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise what :func:`translate` makes of a database error in the block (the original
    chained as its cause); other exceptions pass unchanged."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from exc
