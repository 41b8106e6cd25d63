"""Running the server: uvicorn over the JSON API, with the start-up checks."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from chute.api.awslambda.app import create_lambda_app
from chute.api.http.protocol import ConnectionLimits, connection_cap, http_protocol
from chute.api.rest.app import create_app
from chute.api.root import RootApp
from chute.api.s3.app import create_s3_app
from chute.api.sqs.app import create_sqs_app
from chute.api.states.app import create_states_app
from chute.runtime import Runtime, open_runtime
from chute.security.root import start_root
from chute.settings import Settings

log = logging.getLogger("chute")

EXPOSED_WARNING = (
    "Chute is listening on %s, which other machines can reach, with no access control "
    "(auth.enabled = false): anyone who can connect can read, write and delete every "
    "object. Bind to 127.0.0.1 or turn authentication on unless this network is trusted."
)


def warn_if_exposed(settings: Settings) -> bool:
    """Log a warning when the server would be reachable from other machines with
    authentication off."""
    if settings.is_loopback or settings.auth.enabled:
        return False
    log.warning(EXPOSED_WARNING, settings.address)
    return True


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(settings: Settings, *, workers: bool = True) -> None:
    """Start Chute (API, and workers unless ``workers`` is false) and serve until
    interrupted; on SIGTERM or Ctrl-C the workers drain before the process exits."""
    _configure_logging(settings)
    warn_if_exposed(settings)
    runtime = open_runtime(settings)
    _start_auth(runtime)
    runtime.start_upkeep()
    app = RootApp(
        create_app(runtime.rest_services()),
        create_s3_app(runtime.s3_services()),
        settings.s3.domain,
        services={
            "lambda": create_lambda_app(runtime.lambda_services()),
            "sqs": create_sqs_app(runtime.sqs_services()),
            "states": create_states_app(runtime.states_services()),
        },
    )
    if workers:
        pool = runtime.start_workers()
        log.info("%d worker processes for %d pipelines", pool.size, len(runtime.pipelines))

    scheme = "https" if settings.tls.enabled else "http"
    log.info("Chute serving on %s://%s (data in %s)", scheme, settings.address, settings.data_dir)
    # uvicorn answers SIGTERM by stopping the server, then raises the signal again for
    # the handler it found: the default one would end the process on the spot, with the
    # workers undrained. This one ends it through the drain below instead.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        uvicorn.Server(uvicorn_config(settings, app)).run()
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        # A SIGTERM during the drain changes nothing, as for ``chute worker``.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if runtime.pools:
            log.info("draining: running jobs have %g s to finish", settings.worker.drain_seconds)
        runtime.close()


def uvicorn_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    """How uvicorn serves ``app``: on httptools, through Chute's guarded protocol (the
    ``[http]`` caps on heads and connections, the head deadline, keep-alive timeout and
    lingering close), without WebSockets. Raises the open files limit as far as allowed
    (see :func:`~chute.api.http.protocol.connection_cap`). Serves HTTPS when ``[tls]``
    names a certificate."""
    limits = ConnectionLimits.of(settings.http, connection_cap(settings.http.max_connections))
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http_protocol(limits),
        ws="none",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
        **tls_options(settings),
    )


def _start_auth(runtime: Runtime) -> None:
    """Make (and show once) the root key, when requests must be signed."""
    if runtime.settings.auth.enabled:
        start_root(runtime.keys, runtime.settings.root_credentials_file, os.environ)


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving HTTPS with ``[tls]``'s certificate (none: HTTP)."""
    if not settings.tls.enabled:
        return {}
    return {"ssl_certfile": str(settings.tls.cert_file), "ssl_keyfile": str(settings.tls.key_file)}


class _Terminated(Exception):
    """SIGTERM arrived: shut down as after Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


def work(settings: Settings) -> None:
    """Run worker processes only (no API) until SIGTERM or Ctrl-C, then drain: running
    jobs get ``worker.drain_seconds`` to finish, the rest are released for others."""
    _configure_logging(settings)
    runtime = open_runtime(settings, sweep=False)
    runtime.start_upkeep(sweep=False)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    pool = runtime.start_workers()
    log.info(
        "worker %s: %d processes for %d pipelines", pool.name, pool.size, len(runtime.pipelines)
    )
    try:
        stop.wait()
        log.info("draining: running jobs have %g s to finish", settings.worker.drain_seconds)
    finally:
        runtime.close()
