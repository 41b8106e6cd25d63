"""Retention: history is pruned now and then, so the catalog stays flat under a steady
load instead of growing with every write (River's job cleaner, SQS's retention period).

One process at a time prunes (it holds the ``retention`` maintenance lease); each batch
is a transaction of its own, so pruning never holds the write lock for long. What is
kept and for how long is ``[retention]`` (:class:`chute.settings.RetentionSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock
from chute.settings import RetentionSettings

#: The maintenance lease pruning holds.
LEASE = "retention"
#: Rows removed per transaction.
BATCH = 500
#: Most batches of one kind per pass: a backlog is worked off over several passes.
MAX_BATCHES = 200


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one pass removed; ``skipped``: another process holds the lease."""

    runs: int = 0
    events: int = 0
    metadata: int = 0
    function_logs: int = 0
    skipped: bool = False


class Retention:
    """Prunes run history, old events and old function logs (see the module docstring)."""

    def __init__(
        self, catalog: Catalog, settings: RetentionSettings, clock: Clock, holder: str
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.holder = holder

    def prune(self) -> PruneReport:
        """One pass; nothing if another process is pruning."""
        if not self._take_lease():
            return PruneReport(skipped=True)
        try:
            runs = self._batches(self._prune_runs) if self.settings.runs_seconds else 0
            events = self._batches(self._prune_events) if self.settings.events_seconds else 0
            metadata = self._batches(lambda s: s.history.prune_metadata(BATCH))
            logs = self._batches(self._prune_logs) if self.settings.function_logs_seconds else 0
        finally:
            self.catalog.run_write(lambda session: session.leases.drop(LEASE, self.holder))
        return PruneReport(runs, events, metadata, logs)

    def _prune_runs(self, session: CatalogSession) -> int:
        history = session.history
        cutoff = self.clock() - timedelta(seconds=self.settings.runs_seconds)
        run_ids = history.prunable_runs(cutoff, BATCH)
        history.remove_runs(run_ids)
        return len(run_ids)

    def _prune_events(self, session: CatalogSession) -> int:
        cutoff = self.clock() - timedelta(seconds=self.settings.events_seconds)
        return session.prune_events(cutoff, BATCH)

    def _prune_logs(self, session: CatalogSession) -> int:
        cutoff = self.clock() - timedelta(seconds=self.settings.function_logs_seconds)
        return session.function_logs.prune(cutoff, BATCH)

    def _batches(self, work: Callable[[CatalogSession], int]) -> int:
        removed = 0
        for _ in range(MAX_BATCHES):
            if not self._take_lease():
                break
            count = self.catalog.run_write(work)
            removed += count
            if count < BATCH:
                break
        return removed

    def _take_lease(self) -> bool:
        now = self.clock()
        until = now + timedelta(seconds=max(60.0, self.settings.interval_seconds))
        return self.catalog.run_write(
            lambda session: session.leases.take(LEASE, self.holder, now, until)
        )
