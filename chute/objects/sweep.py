"""The sweep: remove blobs nothing references, decided from the blob registry by Chute's
own clock, never from what the blob store says of itself.

Two kinds of garbage exist: registered blobs no version or composite points at (a write
cut off before its version committed, a blob whose deletion after a commit failed), and
blobs staged under the prefix of an attempt that never answered (its process was killed
or its worker died), which the registry never heard of. Both are removed only once older
than the grace period, since younger ones may belong to a write about to commit.

One process sweeps at a time: the sweep holds the ``sweep`` maintenance lease, so API
processes started together do not scan and delete the same blobs twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from chute.blobs import BlobStore
from chute.blobs.base import BLOB_ID_LENGTH
from chute.blobs.records import BlobKind, BlobRecord
from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock
from chute.objects.records import SweepReport

log = logging.getLogger(__name__)

#: The maintenance lease the sweep holds while it runs.
LEASE = "sweep"
#: How long the lease lasts; renewed after every batch, so a sweep that dies frees it soon.
LEASE_SECONDS = 300.0
#: Registry rows (or leftover prefixes) handled per transaction.
BATCH = 500
#: The leftover prefix that stands for the whole store (see :meth:`Sweeper._stored_under`).
WHOLE_STORE = ""


class Sweeper:
    """Removes garbage blobs; see the module docstring."""

    def __init__(self, catalog: Catalog, store: BlobStore, clock: Clock, holder: str) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        #: This process's name for the lease.
        self.holder = holder

    def sweep(self, grace: timedelta) -> SweepReport:
        """Remove garbage older than ``grace``; nothing if another process is sweeping."""
        if not self._take_lease():
            return SweepReport(skipped=True)
        try:
            cutoff = self.clock() - grace
            orphans = self._sweep_unreferenced(cutoff)
            leftovers = self._sweep_leftovers(cutoff)
        finally:
            self.catalog.run_write(lambda session: session.leases.drop(LEASE, self.holder))
        return SweepReport(orphan_blobs=orphans, leftover_blobs=leftovers)

    def _take_lease(self) -> bool:
        now = self.clock()
        until = now + timedelta(seconds=LEASE_SECONDS)
        return self.catalog.run_write(
            lambda session: session.leases.take(LEASE, self.holder, now, until)
        )

    def _sweep_unreferenced(self, cutoff: datetime) -> int:
        """Unregister unreferenced blobs, then delete their bytes. A row goes first (in a
        transaction that checks again that nothing points at it), its bytes after: a
        version that committed meanwhile keeps its blob, and a sweep cut off between the
        two leaves the bytes under a leftover prefix that a later sweep removes."""
        removed = 0
        while self._take_lease():  # renewed per batch; lost only if this sweep stalled
            with self.catalog.read() as session:
                batch = session.blobs.unreferenced(cutoff, BATCH)
            if not batch:
                break
            gone = self.catalog.run_write(partial(_unregister, batch=batch, cutoff=cutoff))
            purged = [r.location for r in gone if r.location and self._purge(r.location)]
            self._forget_leftovers(purged)
            removed += len(gone)
            if len(batch) < BATCH:
                break
        return removed

    def _sweep_leftovers(self, cutoff: datetime) -> int:
        """Delete what attempts that never answered staged under their prefixes, except
        blobs the registry knows (outputs that were recorded after all)."""
        removed = 0
        with self.catalog.read() as session:
            prefixes = session.blobs.leftovers(cutoff, BATCH)
        for prefix, noted in prefixes:
            found = self._stored_under(prefix, noted)
            with self.catalog.read() as session:
                garbage = found - session.blobs.known(found)
            purged = [blob_id for blob_id in garbage if self._purge(blob_id)]
            removed += len(purged)
            if len(purged) == len(garbage):
                self._forget_leftovers([prefix])
        return removed

    def _forget_leftovers(self, prefixes: list[str]) -> None:
        self.catalog.run_write(lambda session: session.blobs.remove_leftovers(prefixes))

    def _stored_under(self, prefix: str, noted: datetime) -> set[str]:
        """Committed blobs and unfinished writes whose ids start with ``prefix``. The
        empty prefix (noted once, when a catalog of a release without the registry was
        upgraded) stands for what that release left: only what is older than the note."""
        if len(prefix) == BLOB_ID_LENGTH:
            return {prefix}  # one whole id: no need to list
        stored = [*self.store.list(prefix), *self.store.partials(prefix)]
        if prefix == WHOLE_STORE:
            return {blob.blob_id for blob in stored if blob.modified < noted}
        return {blob.blob_id for blob in stored}

    def _purge(self, location: str) -> bool:
        try:
            self.store.purge(location)
        except Exception:
            log.warning("could not delete blob %s; the next sweep retries", location, exc_info=True)
            return False
        return True


def _unregister(
    session: CatalogSession, batch: list[BlobRecord], cutoff: datetime
) -> list[BlobRecord]:
    """Of ``batch``, unregister the blobs still unreferenced, noting each store blob's
    location as a leftover until its bytes are gone; returns those unregistered."""
    in_use = session.blobs.in_use(record.id for record in batch)
    gone = [record for record in batch if record.id not in in_use]
    session.blobs.remove(record.id for record in gone)
    locations = [r.location for r in gone if r.kind is BlobKind.STORE and r.location]
    session.blobs.add_leftovers(locations, cutoff)
    return gone
