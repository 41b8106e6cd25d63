"""The composition root: builds the catalog, blob store and services from settings.

``chute serve``, ``chute worker`` and the tests all start Chute through
:func:`open_runtime`, so what runs in tests is what runs in production.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from chute.api.awslambda.routing import LambdaServices
from chute.api.rest.deps import FunctionServices, Services
from chute.api.s3.auth import key_secrets, signed_by, unguarded
from chute.api.s3.services import S3Services
from chute.api.sqs.app import SqsServices
from chute.api.states.app import StatesServices
from chute.blobs import BlobStore, open_blob_store
from chute.catalog import Catalog
from chute.clock import Clock, DatabaseClock
from chute.context import RequestContext
from chute.errors import ConfigError
from chute.functions.definitions import ConfiguredFunctions, Function, FunctionSource
from chute.functions.logs import FunctionLogs
from chute.functions.registry import FunctionRegistry
from chute.functions.service import Functions, FunctionsSetup, open_functions
from chute.hooks import Hooks
from chute.objects.service import ObjectService
from chute.pipelines.broker import QueueBroker
from chute.pipelines.bucket_rules import destination_of
from chute.pipelines.control import ControlService
from chute.pipelines.deliveries import Delivery, Destinations, compile_deliveries
from chute.pipelines.destinations import InvocationRecords
from chute.pipelines.functions import (
    FunctionQueue,
    FunctionTarget,
    FunctionTargets,
    RunnablePipelines,
)
from chute.pipelines.model import Pipeline, compile_pipelines
from chute.pipelines.retention import Retention
from chute.pipelines.router import Router
from chute.pipelines.status import StatusService
from chute.queue.wakeup import JobSignal, PostgresListener
from chute.security.authenticate import Authenticator
from chute.security.keys import KeyService
from chute.security.master_key import MasterKey
from chute.security.sessions import SessionIssuer
from chute.settings import Settings
from chute.sqs.service import Queues
from chute.sqs.signal import MessageSignal
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
    broker: QueueBroker
    status: StatusService
    control: ControlService
    signal: JobSignal
    clock: Clock
    #: The observers of this runtime (the pipeline router first); add more to watch it.
    hooks: Hooks
    retention: Retention
    #: Webhook targets (``[webhooks.NAME]``) as deliveries, by name.
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    listener: PostgresListener | None = None
    #: Functions as the queue runs their asynchronous invocations, by function name.
    function_targets: Mapping[str, FunctionTarget] = field(default_factory=dict)
    #: Where the functions are defined: chute.toml, and the Lambda API's in the catalog.
    function_source: FunctionSource = field(default_factory=lambda: ConfiguredFunctions({}, ""))
    pools: list[WorkerPool] = field(default_factory=list)
    upkeep: Upkeep | None = None
    #: The SQS queues' operations, and what wakes their long polls.
    queues: Queues | None = None
    message_signal: MessageSignal = field(default_factory=MessageSignal)
    #: Sends asynchronous invocations' records to their functions' destinations.
    records: InvocationRecords | None = None

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
            functions=self.functions_setup,
        )
        pool = WorkerPool(self.broker, config, settings, self.signal, clock=self.clock)
        pool.start()
        self.pools.append(pool)
        return pool

    @cached_property
    def keys(self) -> KeyService:
        """The access keys. The first use reads the key file that encrypts their secrets
        (``auth.key_file``), creating it on first start: workers never need it."""
        master = MasterKey.load_or_create(self.settings.key_file)
        return KeyService(self.catalog, master, self.clock, self.settings.auth.cache_seconds)

    @cached_property
    def functions(self) -> Functions:
        """The Lambda-style functions (``[functions.NAME]``) and their warm environments
        in this process. Handlers reach Chute at ``AWS_ENDPOINT_URL``; each invocation's
        log is kept in the catalog."""
        return open_functions(
            self.functions_setup,
            self.function_source,
            self.blobs,
            self.clock,
            keep_log=self.function_logs.keep,
        )

    @cached_property
    def function_logs(self) -> FunctionLogs:
        """Every function invocation's log, in the catalog."""
        return FunctionLogs(self.catalog)

    @property
    def functions_setup(self) -> FunctionsSetup:
        settings = self.settings
        return FunctionsSetup(
            settings.data_dir,
            settings.region,
            self.endpoint_url,
            settings.key_file if settings.auth.enabled else None,
            private=tuple(
                path for path in (settings.key_file, settings.blobs.path) if path is not None
            ),
        )

    @cached_property
    def sessions(self) -> SessionIssuer:
        """Issues and checks session credentials (those functions run with)."""
        return SessionIssuer(self.keys.master, self.clock)

    @property
    def endpoint_url(self) -> str:
        """The URL this Chute's API answers at, for clients on this machine."""
        settings = self.settings
        scheme = "https" if settings.tls.enabled else "http"
        host = settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{settings.port}"

    def lambda_services(self) -> LambdaServices:
        """The services the Lambda API is built with."""
        return LambdaServices(
            self.functions,
            self.hooks,
            self.authenticator(),
            self.settings.body_timeout_seconds,
            self.function_queue(),
            self.function_source if isinstance(self.function_source, FunctionRegistry) else None,
            self.objects,
            self.records.refusal if self.records is not None else None,
        )

    def sqs_services(self) -> SqsServices:
        """The services the SQS API is built with."""
        queues = self.queues or Queues(
            self.catalog, self.settings.region, self.clock, self.message_signal.notify
        )
        return SqsServices(
            queues,
            self.message_signal,
            self.hooks,
            self.authenticator(),
            self.settings.body_timeout_seconds,
        )

    def states_services(self) -> StatesServices:
        """The services the Step Functions API (queue steps' task tokens) is built with."""
        return StatesServices(
            self.broker.tasks,
            self.hooks,
            self.authenticator(),
            self.settings.body_timeout_seconds,
        )

    def authenticator(self) -> Authenticator | None:
        """Who signed a request, for the API front ends; ``None`` when authentication is
        off (``auth.enabled = false``)."""
        if not self.settings.auth.enabled:
            return None
        return Authenticator(
            self.keys,
            self.settings.region,
            self.clock,
            domain=self.settings.s3.domain,
            sessions=self.sessions,
        )

    def rest_services(self) -> Services:
        """The services the JSON API is built with."""
        return Services(
            self.objects,
            self.status,
            self.control,
            self.pipelines,
            self.settings.body_timeout_seconds,
            self.hooks,
            self.settings.http.max_small_body_bytes,
            keys=self.keys,
            authenticator=self.authenticator(),
            functions=FunctionServices(self.functions, self.function_logs, self.function_queue()),
        )

    def function_queue(self) -> FunctionQueue:
        """Queues asynchronous invocations (``InvocationType: Event``)."""
        return FunctionQueue(self.catalog, self.function_targets, self.clock, self.signal.notify)

    def s3_services(self) -> S3Services:
        """The services the S3 API is built with."""
        authenticator = self.authenticator()
        return S3Services(
            self.objects,
            self.hooks,
            self.settings.region,
            self.settings.body_timeout_seconds,
            self.settings.s3.max_xml_bytes,
            self.settings.s3.domain,
            clock=self.clock,
            authenticate=signed_by(authenticator) if authenticator else unguarded,
            secrets=key_secrets(self.keys, self.clock) if authenticator else None,
            destinations=Destinations(
                self.catalog,
                self.pipelines,
                self.deliveries,
                self.clock,
                self.signal.notify,
                self.function_targets,
                self.message_signal.notify,
            ),
        )

    def start_upkeep(self, *, sweep: bool = True) -> Upkeep:
        """From now on until closed, in a thread: prune history every
        ``retention.interval_seconds``, abort expired multipart uploads every
        ``multipart.interval_seconds`` (unless ``multipart.abort_after_seconds`` is 0)
        and (``sweep``) sweep the blob store every ``sweep_interval_seconds`` (0: never
        again after the start). Whichever process gets to a chore first does it; the
        others skip it (maintenance leases)."""
        if self.upkeep is not None:
            return self.upkeep
        chores = [Chore("retention", self.settings.retention.interval_seconds, self._prune)]
        multipart = self.settings.multipart
        if multipart.abort_after_seconds > 0:
            chores.append(Chore("multipart-expiry", multipart.interval_seconds, self._expire))
        if sweep and self.settings.sweep_interval_seconds > 0:
            interval = self.settings.sweep_interval_seconds
            chores.append(Chore("sweep", interval, self._sweep))
        if self.queues is not None:
            chores.append(Chore("sqs-retention", SQS_EXPIRY_SECONDS, self._expire_messages))
        self.upkeep = Upkeep(chores)
        self.upkeep.start()
        return self.upkeep

    def _sweep(self) -> None:
        _sweep(self.objects, self.settings, self.pipelines)

    def _expire_messages(self) -> None:
        assert self.queues is not None
        removed = self.queues.expire()
        if removed:
            log.info("removed %d SQS messages past their queues' retention period", removed)

    def _expire(self) -> None:
        older_than = timedelta(seconds=self.settings.multipart.abort_after_seconds)
        report = self.objects.expire_uploads(RequestContext.system(), older_than)
        if report.aborted:
            log.info("aborted %d multipart uploads begun over %s ago", report.aborted, older_than)

    def _prune(self) -> None:
        report = self.retention.prune()
        if report.runs or report.events or report.metadata or report.function_logs:
            log.info(
                "retention removed %d runs, %d events, the metadata of %d gone versions"
                " and %d function logs",
                report.runs,
                report.events,
                report.metadata,
                report.function_logs,
            )

    def close(self, grace: float | None = None) -> None:
        """Drain the worker pools (see :meth:`WorkerPool.stop`), then release everything."""
        if self.upkeep is not None:
            self.upkeep.stop()
        for pool in self.pools:
            pool.stop(grace)
        self.pools.clear()
        if "functions" in self.__dict__:  # started only if something invoked one
            self.functions.close()
        if self.listener is not None:
            self.listener.close()
        self.blobs.close()
        self.catalog.close()


#: How often messages past their queue's retention period are deleted.
SQS_EXPIRY_SECONDS = 60.0


def open_runtime(settings: Settings, *, clock: Clock | None = None, sweep: bool = True) -> Runtime:
    """Check the pipelines, migrate the catalog, open the blob store, create configured
    buckets (and pipeline output buckets), and sweep away what interrupted writes left.

    Every service reads the time from ``clock``: by default this machine's, corrected to
    the database server's (see :class:`chute.clock.DatabaseClock`)."""
    configured = ConfiguredFunctions(settings.functions, settings.region)
    named = {function.name: function for function in configured.functions()}
    pipelines = compile_pipelines(settings.pipelines, settings.worker.modules, named)
    deliveries = compile_deliveries(settings.webhooks)
    _check_names(pipelines, named)
    _check_destinations(named)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    catalog.migrate()
    blobs = open_blob_store(settings.blobs, settings.data_dir)
    clock = clock or DatabaseClock(catalog.clock_offset)
    signal = JobSignal()
    messages = MessageSignal()
    router = Router(pipelines, signal.notify, clock, deliveries, on_message=messages.notify)
    hooks = Hooks([router])
    objects = ObjectService(
        catalog,
        blobs,
        settings.region,
        settings.max_object_size,
        settings.small_blob_limit,
        clock,
        hooks,
        settings.multipart.min_part_size,
    )
    registry = FunctionRegistry(catalog, objects, configured, settings.region, clock, pipelines)
    functions = FunctionTargets(registry)
    router.functions = functions
    # What workers run: the pipelines, deliveries to webhook targets, function events.
    fixed = {**pipelines, **{d.pipeline.name: d.pipeline for d in deliveries.values()}}
    runnable = RunnablePipelines(fixed, functions)
    for name in _buckets(settings, pipelines):
        objects.ensure_bucket(RequestContext.system(), name)
    if sweep:
        _sweep(objects, settings, pipelines)
    listener = None
    if catalog.dialect == "postgresql":
        listener = PostgresListener(settings.catalog_url, signal, messages.notify)
    records = InvocationRecords(catalog, functions, deliveries, signal.notify, messages.notify)
    broker = QueueBroker(catalog, objects, runnable, clock, hooks, records, messages.notify)
    status = StatusService(catalog, pipelines, router)
    control = ControlService(catalog, pipelines, router, runnable)
    retention = Retention(catalog, settings.retention, clock, objects.sweeper.holder)
    return Runtime(
        settings,
        catalog,
        blobs,
        objects,
        pipelines,
        broker,
        status,
        control,
        signal,
        clock,
        hooks,
        retention,
        deliveries,
        listener,
        function_targets=functions,
        function_source=registry,
        queues=Queues(catalog, settings.region, clock, messages.notify),
        message_signal=messages,
        records=records,
    )


def _check_names(pipelines: Mapping[str, Pipeline], functions: Mapping[str, Any]) -> None:
    """A notification rule names a pipeline or a function the same way: one name, one."""
    both = sorted(set(pipelines) & set(functions))
    if both:
        raise ConfigError(
            [f"functions.{name}: a pipeline has this name too; rename one" for name in both]
        )


def _check_destinations(functions: Mapping[str, Function]) -> None:
    """Every destination a function names is an ARN of something Chute has."""
    problems = [
        f"functions.{function.name}.{setting}: {arn!r} names no SQS queue, SNS topic or function"
        for function in functions.values()
        for setting, arn in (
            ("on_success", function.config.on_success),
            ("on_failure", function.config.on_failure),
        )
        if arn is not None and destination_of(arn) is None
    ]
    if problems:
        raise ConfigError(problems)


def _sweep_grace(settings: Settings, pipelines: dict[str, Pipeline]) -> timedelta:
    """How old an unreferenced blob must be to go: ``sweep_grace_seconds``, and longer
    than any step may run, since an attempt's outputs are staged before it ends."""
    # A queue step's consumers stage nothing: its (long) wait does not count.
    timeouts = [
        step.timeout_seconds
        for p in pipelines.values()
        for step in p.steps.values()
        if step.queue is None
    ]
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
    report = objects.sweep(RequestContext.system(), _sweep_grace(settings, pipelines))
    if report.skipped:
        log.debug("another process is sweeping the blob store")
    elif report.orphan_blobs or report.leftover_blobs:
        log.info(
            "sweep removed %d unreferenced blobs and %d left by attempts that never answered",
            report.orphan_blobs,
            report.leftover_blobs,
        )


@dataclass
class Chore:
    """Upkeep done every ``interval`` seconds."""

    name: str
    interval: float
    work: Callable[[], None]


class Upkeep:
    """One thread doing each chore every ``interval``; a chore that fails is logged and
    tried again at its next turn."""

    def __init__(self, chores: list[Chore]) -> None:
        self.chores = chores
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chute-upkeep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        due = {chore.name: time.monotonic() + chore.interval for chore in self.chores}
        while self.chores:
            wait = max(0.0, min(due.values()) - time.monotonic())
            if self._stop.wait(wait):
                return
            for chore in self.chores:
                if time.monotonic() >= due[chore.name]:
                    self._do(chore)
                    due[chore.name] = time.monotonic() + chore.interval

    def _do(self, chore: Chore) -> None:
        try:
            chore.work()
        except Exception:
            log.exception("upkeep %r failed; trying again in %g s", chore.name, chore.interval)
