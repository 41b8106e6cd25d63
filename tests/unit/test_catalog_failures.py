"""A failing database is an error clients may retry (503) or a full disk (507), never a
500: the catalog translates what SQLAlchemy raises."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from chute.catalog import Catalog
from chute.catalog.failures import database_errors, translate
from chute.errors import CatalogError, CatalogUnavailable, ServiceUnavailable, StorageFull


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("server said no")
        self.sqlstate = sqlstate


def _sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


def test_a_lost_or_refused_connection_is_unavailable() -> None:
    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    error = translate(lost)
    assert isinstance(error, CatalogUnavailable)
    assert isinstance(error, CatalogError | ServiceUnavailable)
    assert (error.status, error.code, error.retry_after) == (503, "ServiceUnavailable", 2)
    assert "server closed" not in error.message  # the database's words stay in the log
    interface = sa.exc.InterfaceError("SELECT 1", {}, Exception("connection already closed"))
    assert isinstance(translate(interface), CatalogUnavailable)
    assert isinstance(translate(sa.exc.TimeoutError("pool exhausted")), CatalogUnavailable)


def test_a_full_disk_is_storage_full() -> None:
    sqlite_full = sa.exc.OperationalError(
        "INSERT", {}, _sqlite_error("database or disk is full", sqlite3.SQLITE_FULL)
    )
    pg_full = sa.exc.OperationalError("INSERT", {}, _PgError("53100"))
    for exc in (sqlite_full, pg_full):
        error = translate(exc)
        assert isinstance(error, StorageFull)
        assert (error.status, error.code) == (507, "XChuteStorageFull")


def test_a_refused_statement_is_left_as_a_bug() -> None:
    assert translate(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))) is None
    assert translate(sa.exc.ProgrammingError("SELEC", {}, Exception("syntax"))) is None
    with pytest.raises(sa.exc.IntegrityError), database_errors():
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate"))


def test_the_original_error_is_kept_as_the_cause() -> None:
    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("gone"))
    with pytest.raises(CatalogUnavailable) as caught, database_errors():
        raise lost
    assert caught.value.__cause__ is lost


def test_a_catalog_whose_database_went_away_answers_unavailable(tmp_path: Path) -> None:
    database = tmp_path / "catalog.db"
    catalog = Catalog(f"sqlite:///{database}")
    catalog.migrate()
    catalog.ping()
    catalog.engine.dispose()
    for path in tmp_path.glob("catalog.db*"):
        path.unlink()
    database.mkdir()  # what stands there now cannot be opened as a database
    try:
        with pytest.raises(CatalogUnavailable):
            catalog.ping()
        with pytest.raises(CatalogUnavailable):
            catalog.run_write(lambda session: session.list_buckets())
    finally:
        catalog.close()
