"""jobs count the leases lost before their attempt started

``jobs.started_at`` now means "reported handed to a worker process" (claims leave it
empty); ``unstarted_losses`` counts leases that ran out before that, which the reaper
forgives once; ``claims`` counts every claim, so each stages its outputs under a prefix
of its own even when a released claim hands its attempt number back.

Revision ID: 0006_job_started
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_job_started"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unstarted_losses", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("claims")
        batch_op.drop_column("unstarted_losses")
