"""Pruning run history: the queries that remove runs no status needs any more.

A run is history once it has ended and either its object version is gone (overwritten or
deleted) or a newer run of the same pipeline processed the same version (a reprocess).
Its jobs, their attempts (step runs) and its lineage go with it, in that order, so no
row is left pointing at a removed one. Extracted metadata of versions that are gone
goes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from chute.catalog.schema import buckets, object_versions
from chute.queue.schema import jobs, lineage, object_metadata, runs, step_runs
from chute.queue.states import RunState

#: Run states a run does not leave by itself.
_ENDED = [RunState.SUCCEEDED.value, RunState.DEAD.value, RunState.SUPERSEDED.value]


class HistorySession:
    """History queries inside one write transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def prunable_runs(self, ended_before: datetime, limit: int) -> list[int]:
        """Up to ``limit`` runs that are history and ended before ``ended_before``."""
        query = (
            sa.select(runs.c.id)
            .where(
                runs.c.state.in_(_ENDED),
                runs.c.finished_at < ended_before,
                sa.or_(_version_gone(), _succeeded_again(), _key_moved_on()),
            )
            .order_by(runs.c.id)
            .limit(limit)
        )
        return [row[0] for row in self.conn.execute(query)]

    def remove_runs(self, run_ids: Sequence[int]) -> None:
        """Remove runs with their jobs, step runs and lineage."""
        if not run_ids:
            return
        ids = list(run_ids)
        job_ids = sa.select(jobs.c.id).where(jobs.c.run_id.in_(ids)).scalar_subquery()
        self.conn.execute(step_runs.delete().where(step_runs.c.job_id.in_(job_ids)))
        self.conn.execute(lineage.delete().where(lineage.c.run_id.in_(ids)))
        self.conn.execute(jobs.delete().where(jobs.c.run_id.in_(ids)))
        self.conn.execute(runs.delete().where(runs.c.id.in_(ids)))

    def prune_metadata(self, limit: int) -> int:
        """Remove the extracted metadata of up to ``limit`` versions that are gone."""
        gone = (
            sa.select(object_metadata.c.source_row)
            .where(~sa.exists().where(object_versions.c.id == object_metadata.c.source_row))
            .limit(limit)
        )
        rows = [row[0] for row in self.conn.execute(gone)]
        if rows:
            self.conn.execute(
                object_metadata.delete().where(object_metadata.c.source_row.in_(rows))
            )
        return len(rows)


def _version_gone() -> sa.ColumnElement[bool]:
    """The run processed a version that was overwritten or deleted since."""
    gone = ~sa.exists().where(object_versions.c.id == runs.c.source_row)
    return sa.and_(runs.c.source_row.is_not(None), gone)


def _succeeded_again() -> sa.ColumnElement[bool]:
    """A newer run of the same pipeline on the same version succeeded (a reprocess): its
    outputs and lineage stand for the version now. A newer run still going, or dead,
    leaves this one the status it has."""
    newer = runs.alias("newer")
    return sa.exists().where(
        newer.c.source_row == runs.c.source_row,
        newer.c.pipeline == runs.c.pipeline,
        newer.c.id > runs.c.id,
        newer.c.state == RunState.SUCCEEDED.value,
    )


def _key_moved_on() -> sa.ColumnElement[bool]:
    """A run a removal started (it has no version of its own) whose key has since been
    written again, or has no version left at all (an unversioned delete): no status
    shows it. A delete marker still latest keeps its run."""
    same_key = sa.and_(
        buckets.c.name == runs.c.bucket,
        object_versions.c.key == runs.c.key,
    )
    keyed = object_versions.join(buckets, buckets.c.id == object_versions.c.bucket_id)
    written_since = (
        sa.select(object_versions.c.id)
        .select_from(keyed)
        .where(
            same_key, object_versions.c.is_latest, object_versions.c.created_at > runs.c.created_at
        )
        .exists()
    )
    any_version = sa.select(object_versions.c.id).select_from(keyed).where(same_key).exists()
    return sa.and_(runs.c.source_row.is_(None), sa.or_(written_since, ~any_version))
