"""The queue's tables, in the catalog database (migration ``0003`` creates them).

A *run* is one pipeline applied to one object version; it owns one *job* per step. Jobs
move through :class:`~chute.queue.states.JobState`; every attempt leaves a *step run*
row. *Lineage* links a run's outputs back to their source, and *object metadata* holds
what ``meta.extract``-style steps learnt about a version.
"""

from __future__ import annotations

import sqlalchemy as sa

from chute.catalog.schema import KeyText, RowId, UTCDateTime, metadata

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("bucket", sa.String(63), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=False),
    # The object_versions row processed; no foreign key: runs outlive deleted versions.
    sa.Column("source_row", RowId, nullable=True),
    sa.Column("event", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Index("ix_runs_bucket_key", "bucket", "key", "id"),
    sa.Index("ix_runs_source_row", "source_row"),
    sa.Index("ix_runs_pipeline", "pipeline", "id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RowId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    # A JobKind: "step" for pipeline steps, "notify" for notifications about the run.
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("pipeline", sa.String(128), nullable=False),
    sa.Column("step", sa.String(128), nullable=False),
    sa.Column("bucket", sa.String(63), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("needs", sa.JSON(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # Attempts started so far; also the fencing token a result must carry.
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("run_at", UTCDateTime(), nullable=False),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    # When the running attempt's worker reported handing it to a process (NULL: claimed,
    # not started yet; the reaper charges a lost attempt only to a started one).
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("last_traceback", sa.Text(), nullable=True),
    # Leases that ran out before the attempt was reported started (migration 0006).
    sa.Column("unstarted_losses", sa.Integer(), nullable=False, server_default="0"),
    # Times claimed, never decreased: each claim's outputs are staged under a prefix of
    # its own (migration 0006).
    sa.Column("claims", sa.Integer(), nullable=False, server_default="0"),
    # Claims scan only ready jobs, oldest due first.
    sa.Index(
        "ix_jobs_ready",
        "run_at",
        "id",
        sqlite_where=sa.text("state IN ('available', 'retryable')"),
        postgresql_where=sa.text("state IN ('available', 'retryable')"),
    ),
    sa.Index(
        "ix_jobs_leases",
        "lease_expires_at",
        sqlite_where=sa.text("state = 'running'"),
        postgresql_where=sa.text("state = 'running'"),
    ),
    # A run's jobs, and (a Map's many) those of a step not done yet (migration 0011).
    sa.Index("ix_jobs_run_state", "run_id", "state", "step"),
    sa.Index("ix_jobs_state_id", "state", "id"),
    sa.Index("ix_jobs_pipeline_id", "pipeline", "id"),
    sa.Index("ix_jobs_bucket_key", "bucket", "key"),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("job_id", RowId, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("report", sa.JSON(), nullable=False),
    sa.Index("ix_step_runs_job_id", "job_id", "attempt"),
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RowId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("job_id", RowId, nullable=False),
    sa.Column("step_run_id", RowId, nullable=False),
    sa.Column("step", sa.String(128), nullable=False),
    sa.Column("bucket", sa.String(63), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.Column("output_row", RowId, nullable=True),
    sa.Index("ix_lineage_run_id", "run_id"),
    sa.Index("ix_lineage_output", "bucket", "key"),
)

object_metadata = sa.Table(
    "object_metadata",
    metadata,
    sa.Column("source_row", RowId, primary_key=True),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# What the steps of a run keep for one another, instead of writing objects (migration
# 0011): the files a splitter wrote, each an item a Map runs a job on, and the results of
# a Map's items, which the step that joins the Map gets in order. An item of a step that
# is not a Map has ``item`` its place and ``part`` 0; a result of a Map has ``item`` the
# place of the item it came from and ``part`` its place among that job's outputs. The
# blobs are referenced from here (the sweep keeps them) until the run succeeds.
run_items = sa.Table(
    "run_items",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("run_id", RowId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.String(128), nullable=False),
    sa.Column("item", sa.Integer(), nullable=False),
    sa.Column("part", sa.Integer(), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("blob_id", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("metadata", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("run_id", "step", "item", "part"),
    sa.Index("ix_run_items_blob_id", "blob_id"),
)

# A Map's progress in one run: how many items it runs over, and how many of their jobs
# exist so far (at most ``max_concurrency`` are unfinished at a time).
run_maps = sa.Table(
    "run_maps",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step", sa.String(128), primary_key=True),
    sa.Column("total", sa.Integer(), nullable=False),
    sa.Column("created", sa.Integer(), nullable=False),
)
