"""Catalog database engines and migrations.

Write transactions (connections with the ``chute_write`` execution option) run one at a
time across every process sharing the database, and take their lock up front:

* SQLite, in WAL mode with ``synchronous=FULL`` (a commit is on disk before a write is
  acknowledged), starts them with ``BEGIN IMMEDIATE``, so a writer never fails half-way
  on an upgrade from read to write.
* PostgreSQL starts them by taking one advisory lock, held until commit. Writes are short
  and batched (group commit), so this costs little, and it buys three guarantees no
  finer scheme gave as simply: event ids become visible in commit order (a consumer that
  resumes after the last id it saw never skips one), writers of one key cannot interleave,
  and a copy cannot race the deletion of the blob it shares. One lock, taken first, also
  means no deadlock between processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock keys (any distinct constants will do).
MIGRATION_LOCK = 0x43487574654D6967
WRITE_LOCK = 0x4348555445564E54
#: Seconds to wait for a PostgreSQL connection (unless the URL says otherwise): a server
#: that does not answer fails requests with 503 instead of holding them for minutes.
CONNECT_TIMEOUT = 10


def create_catalog_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with Chute's connection settings."""
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "sqlite":
        return _sqlite_engine(url_obj)
    if url_obj.drivername == "postgresql":
        url_obj = url_obj.set(drivername="postgresql+psycopg")
    connect_args = (
        {} if "connect_timeout" in url_obj.query else {"connect_timeout": CONNECT_TIMEOUT}
    )
    engine = sa.create_engine(
        url_obj, pool_size=20, max_overflow=20, pool_pre_ping=True, connect_args=connect_args
    )

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("chute_write", False):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    return engine


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False}, pool_size=20, max_overflow=20
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event below issue BEGIN, not the driver.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("chute_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema up to the newest migration (run on every start), or to
    ``revision`` (tests that build a catalog as an older Chute left it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # On SQLite a write connection (BEGIN IMMEDIATE) makes a second process starting at the
    # same moment wait, then find the schema current; PostgreSQL uses the migration lock.
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect().execution_options(chute_write=sqlite) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK)))
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK)))
                conn.commit()
