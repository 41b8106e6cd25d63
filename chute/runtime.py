"""The composition root: builds the catalog, blob store and services from settings.

``chute serve``, ``chute worker`` and the tests all start Chute through
:func:`open_runtime`, so what runs in tests is what runs in production.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from chute.blobs import BlobStore, open_blob_store
from chute.catalog import Catalog
from chute.clock import Clock, DatabaseClock
from chute.hooks import Hooks
from chute.objects.service import ObjectService
from chute.pipelines.model import Pipeline, compile_pipelines
from chute.pipelines.router import Router
from chute.pipelines.service import PipelineService
from chute.pipelines.status import StatusService
from chute.queue.wakeup import JobSignal, PostgresListener
from chute.settings import Settings
from chute.worker.child import ChildConfig
from chute.worker.pool import WorkerPool

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running Chute holds; close it to release files and connections."""

    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    objects: ObjectService
    pipelines: dict[str, Pipeline]
    processing: PipelineService
    status: StatusService
    signal: JobSignal
    clock: Clock
    #: The observers of this runtime (the pipeline router first); add more to watch it.
    hooks: Hooks
    listener: PostgresListener | None = None
    pools: list[WorkerPool] = field(default_factory=list)
    _sweeping: threading.Event | None = None
    _sweeper: threading.Thread | None = None

    def start_workers(self, processes: int | None = None) -> WorkerPool:
        """Start a worker pool in this process (``processes`` overrides the setting)."""
        settings = self.settings.worker
        if processes is not None:
            settings = settings.model_copy(update={"processes": processes})
        config = ChildConfig(
            blobs=self.settings.blobs,
            data_dir=self.settings.data_dir,
            small_blob_limit=self.settings.small_blob_limit,
            modules=tuple(settings.modules),
            log_level=self.settings.log_level,
        )
        pool = WorkerPool(self.processing, config, settings, self.signal, clock=self.clock)
        pool.start()
        self.pools.append(pool)
        return pool

    def start_sweeping(self) -> None:
        """Sweep the blob store every ``sweep_interval_seconds`` from now on, in a
        thread, until closed (nothing if the interval is 0)."""
        interval = self.settings.sweep_interval_seconds
        if interval <= 0 or self._sweeper is not None:
            return
        stop = self._sweeping = threading.Event()

        def sweep_now_and_then() -> None:
            while not stop.wait(interval):
                try:
                    _sweep(self.objects, self.settings, self.pipelines)
                except Exception:
                    log.exception("sweeping the blob store failed; trying again later")

        self._sweeper = threading.Thread(target=sweep_now_and_then, name="chute-sweep", daemon=True)
        self._sweeper.start()

    def close(self, grace: float | None = None) -> None:
        """Drain the worker pools (see :meth:`WorkerPool.stop`), then release everything."""
        if self._sweeping is not None and self._sweeper is not None:
            self._sweeping.set()
            self._sweeper.join()
        for pool in self.pools:
            pool.stop(grace)
        self.pools.clear()
        if self.listener is not None:
            self.listener.close()
        self.blobs.close()
        self.catalog.close()


def open_runtime(settings: Settings, *, clock: Clock | None = None, sweep: bool = True) -> Runtime:
    """Check the pipelines, migrate the catalog, open the blob store, create configured
    buckets (and pipeline output buckets), and sweep away what interrupted writes left.

    Every service reads the time from ``clock``: by default this machine's, corrected to
    the database server's (see :class:`chute.clock.DatabaseClock`)."""
    pipelines = compile_pipelines(settings.pipelines, settings.worker.modules)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    catalog.migrate()
    blobs = open_blob_store(settings.blobs, settings.data_dir)
    clock = clock or DatabaseClock(catalog.clock_offset)
    signal = JobSignal()
    router = Router(pipelines, signal.notify, clock)
    hooks = Hooks([router])
    objects = ObjectService(
        catalog,
        blobs,
        settings.region,
        settings.max_object_size,
        settings.small_blob_limit,
        clock,
        hooks,
    )
    for name in _buckets(settings, pipelines):
        objects.ensure_bucket(name)
    if sweep:
        _sweep(objects, settings, pipelines)
    listener = None
    if catalog.dialect == "postgresql":
        listener = PostgresListener(settings.catalog_url, signal)
    processing = PipelineService(catalog, objects, pipelines, clock=clock)
    status = StatusService(catalog, pipelines, router)
    return Runtime(
        settings,
        catalog,
        blobs,
        objects,
        pipelines,
        processing,
        status,
        signal,
        clock,
        hooks,
        listener,
    )


def _sweep_grace(settings: Settings, pipelines: dict[str, Pipeline]) -> timedelta:
    """How old an unreferenced blob must be to go: ``sweep_grace_seconds``, and longer
    than any step may run, since an attempt's outputs are staged before it ends."""
    timeouts = [step.timeout_seconds for p in pipelines.values() for step in p.steps.values()]
    seconds = settings.sweep_grace_seconds
    if timeouts:
        seconds = max(seconds, max(timeouts) + 2 * settings.worker.lease_seconds)
    return timedelta(seconds=seconds)


def _buckets(settings: Settings, pipelines: dict[str, Pipeline]) -> list[str]:
    names = list(settings.buckets)
    for pipeline in pipelines.values():
        for name in (pipeline.trigger.bucket, pipeline.output_bucket):
            if name not in names:
                names.append(name)
    return names


def _sweep(objects: ObjectService, settings: Settings, pipelines: dict[str, Pipeline]) -> None:
    report = objects.sweep(_sweep_grace(settings, pipelines))
    if report.skipped:
        log.debug("another process is sweeping the blob store")
    elif report.orphan_blobs or report.leftover_blobs:
        log.info(
            "sweep removed %d unreferenced blobs and %d left by attempts that never answered",
            report.orphan_blobs,
            report.leftover_blobs,
        )
