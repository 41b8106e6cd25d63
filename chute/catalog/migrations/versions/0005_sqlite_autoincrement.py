"""SQLite: object version and event ids are never reused

Without AUTOINCREMENT, SQLite gives a new row the largest id in the table plus one, so
deleting the newest version of a key and writing another reused its id: a run that
pointed at the deleted version then read the new one's bytes, and an event cursor could
come round again once old events are removed. PostgreSQL sequences never reuse ids.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Tables whose ids other rows or readers hold on to.
TABLES = ("object_versions", "events")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # A partial index does not survive SQLite's table rebuild: drop it, then make it anew.
    op.drop_index("ix_object_versions_latest", table_name="object_versions")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    op.create_index(
        "ix_object_versions_latest",
        "object_versions",
        ["bucket_id", "key"],
        unique=True,
        sqlite_where=sa.text("is_latest"),
    )
    _start_after_every_id_still_named()


def _start_after_every_id_still_named() -> None:
    """Rows of runs, lineage and extracted metadata may name versions deleted since, with
    ids above every version left: new versions start above those too, so none of those
    rows ever points at a new version. Metadata of versions that are gone is dropped."""
    bind = op.get_bind()
    highest = bind.execute(
        sa.text(
            "SELECT max(n) FROM (SELECT max(id) AS n FROM object_versions "
            "UNION ALL SELECT max(source_row) FROM runs "
            "UNION ALL SELECT max(output_row) FROM lineage "
            "UNION ALL SELECT max(source_row) FROM object_metadata)"
        )
    ).scalar()
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'object_versions'"))
    bind.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('object_versions', :seq)"),
        {"seq": highest or 0},
    )
    bind.execute(
        sa.text(
            "DELETE FROM object_metadata WHERE source_row NOT IN (SELECT id FROM object_versions)"
        )
    )


def downgrade() -> None:
    """Nothing to undo: AUTOINCREMENT only stops ids from being reused."""
