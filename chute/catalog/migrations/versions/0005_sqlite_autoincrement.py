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


def downgrade() -> None:
    """Nothing to undo: AUTOINCREMENT only stops ids from being reused."""
