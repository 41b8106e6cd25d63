"""Migrations run on every start, so several processes may run them at once."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from chute.catalog.engine import MIGRATIONS
from chute.catalog.schema import metadata

MIGRATE = "import sys; from chute.catalog import Catalog; c = Catalog(sys.argv[1]); c.migrate()"


def test_concurrent_starts_migrate_once(catalog_url: str) -> None:
    # Separate processes: alembic keeps its migration context in module globals.
    starts = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, catalog_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for start in starts:
        _, errors = start.communicate(timeout=120)
        assert start.returncode == 0, errors.decode()
    engine = sa.create_engine(catalog_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            heads = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert heads == [(ScriptDirectory(str(MIGRATIONS)).get_current_head(),)]
