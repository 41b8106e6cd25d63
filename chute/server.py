"""Running the server: uvicorn over the JSON API, with the start-up checks."""

from __future__ import annotations

import logging

import uvicorn

from chute.api.rest.app import create_app
from chute.config import Settings
from chute.runtime import open_runtime

log = logging.getLogger("chute")

EXPOSED_WARNING = (
    "Chute is listening on %s, which other machines can reach, and it has no access "
    "control yet: anyone who can connect can read, write and delete every object. "
    "Bind to 127.0.0.1 unless this network is trusted."
)


def warn_if_exposed(settings: Settings) -> bool:
    """Log a warning when the server would be reachable from other machines."""
    if settings.is_loopback:
        return False
    log.warning(EXPOSED_WARNING, settings.address)
    return True


def serve(settings: Settings) -> None:
    """Start Chute and serve until interrupted."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    warn_if_exposed(settings)
    runtime = open_runtime(settings)
    app = create_app(runtime)

    log.info("Chute serving on http://%s (data in %s)", settings.address, settings.data_dir)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        runtime.close()
