"""What the steps of a run keep for one another: the items a Map runs over and the
results it hands to the step that joins it (table ``run_items``), and each Map's
progress (``run_maps``). See :mod:`chute.pipelines.maps` for how a Map uses them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chute.catalog.schema import blobs
from chute.queue.records import NewItem, StoredItem
from chute.queue.schema import run_items, run_maps

_param = sa.bindparam
_INSERT_ITEM = run_items.insert()
_STORED = sa.select(
    run_items.c.step,
    run_items.c.item,
    run_items.c.part,
    run_items.c.key,
    run_items.c.size,
    run_items.c.content_type,
    run_items.c.metadata,
    run_items.c.blob_id,
    blobs.c.md5,
    blobs.c.sha256,
    blobs.c.location,
    blobs.c.data,
).select_from(run_items.join(blobs, blobs.c.id == run_items.c.blob_id))
_COUNT = sa.select(sa.func.count()).where(
    run_items.c.run_id == _param("run_id"), run_items.c.step == _param("step")
)


class ItemSession:
    """Run items and Map progress inside one catalog transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- items -------------------------------------------------------------------------

    def add(self, run_id: int, step: str, items: Sequence[NewItem], now: datetime) -> None:
        """Keep ``items`` for the run's other steps; their blobs are registered already."""
        rows = [
            {
                "run_id": run_id,
                "step": step,
                "item": item.item,
                "part": item.part,
                "key": item.key,
                "blob_id": item.blob_id,
                "size": item.size,
                "content_type": item.content_type,
                "metadata": item.metadata,
                "created_at": now,
            }
            for item in items
        ]
        if rows:
            self.conn.execute(_INSERT_ITEM, rows)

    def count(self, run_id: int, step: str) -> int:
        """How many items ``step`` kept in the run."""
        return int(self.conn.execute(_COUNT, {"run_id": run_id, "step": step}).scalar_one())

    def chosen(self, run_id: int, step: str, items: Sequence[int]) -> dict[int, StoredItem]:
        """Items ``items`` of ``step`` (their first parts) by place: what jobs of a Map
        over the step run on."""
        query = _STORED.where(
            run_items.c.run_id == run_id,
            run_items.c.step == step,
            run_items.c.item.in_(list(items)),
            run_items.c.part == 0,
        )
        return {row.item: _stored(row) for row in self.conn.execute(query)}

    def of_steps(self, run_id: int, steps: Sequence[str]) -> list[StoredItem]:
        """Every item the ``steps`` kept in the run, step by step in the order given, each
        step's in the order of their items and parts."""
        if not steps:
            return []
        query = _STORED.where(run_items.c.run_id == run_id, run_items.c.step.in_(steps))
        query = query.order_by(run_items.c.item, run_items.c.part)
        found = [_stored(row) for row in self.conn.execute(query)]
        order = {step: index for index, step in enumerate(steps)}
        return sorted(found, key=lambda stored: order[stored.step])  # stable: keeps the rest

    def drop(self, run_ids: Iterable[int]) -> list[str]:
        """Forget the items of runs that need them no more; returns their blob ids, for the
        caller to release."""
        ids = list(set(run_ids))
        if not ids:
            return []
        where = run_items.c.run_id.in_(ids)
        found = self.conn.execute(sa.select(run_items.c.blob_id).where(where))
        blob_ids = [row[0] for row in found]
        if blob_ids:
            self.conn.execute(run_items.delete().where(where))
        return blob_ids

    # --- Map progress ------------------------------------------------------------------

    def start_map(self, run_id: int, step: str, total: int, created: int) -> None:
        """Note a Map over ``total`` items whose first ``created`` jobs exist."""
        self.conn.execute(
            run_maps.insert(), {"run_id": run_id, "step": step, "total": total, "created": created}
        )

    def take_next(self, run_id: int, step: str, count: int) -> range:
        """The places of up to ``count`` more items whose jobs are to be created now (none
        once every item has its job), noted as created."""
        where = (run_maps.c.run_id == run_id, run_maps.c.step == step)
        progress = sa.select(run_maps.c.total, run_maps.c.created).where(*where)
        row = self.conn.execute(progress).first()
        if row is None:
            return range(0)
        upto = min(row.total, row.created + count)
        if upto > row.created:
            self.conn.execute(run_maps.update().where(*where).values(created=upto))
        return range(row.created, upto)


def _stored(row: Any) -> StoredItem:
    return StoredItem(
        row.step,
        row.item,
        row.part,
        row.key,
        row.size,
        row.content_type,
        dict(row.metadata or {}),
        row.blob_id,
        row.md5,
        row.sha256,
        row.location,
        row.data,
    )
