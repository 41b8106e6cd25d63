"""A real Chute server process on a loopback port, for end-to-end tests.

``live_server`` (module scope) is one server shared by the tests of a module. Tests that
need a server of their own (other settings, a restart) use ``start_server``::

    def test_small_limit(tmp_path):
        with start_server(tmp_path, env={"CHUTE_MAX_OBJECT_SIZE": "10"}) as server:
            httpx.get(server.url + "/_/api/v1/health")

The server runs as ``python -m chute serve`` with its data in a temporary folder and the
SQLite catalog there; its output goes to ``server.log`` in that folder. Every server
starts with the same root key (:data:`ROOT_KEY`, through ``CHUTE_ROOT_ACCESS_KEY`` and
``CHUTE_ROOT_SECRET_KEY``), and the tests' clients sign with it: :data:`ROOT_AUTH` for
raw requests (the bearer form), :func:`root_signer` for httpx clients (SigV4), and
``CHUTE_ACCESS_KEY`` / ``CHUTE_SECRET_KEY`` in the environment for the ``chute`` command.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import pytest

from chute.cli.client.signing import AccessKey, SigV4Signer

HEALTH_PATH = "/_/api/v1/health"
#: The root key of every test server.
ROOT_KEY = AccessKey("CKE2ETESTROOT0000001", "e2e/test+root+secret/0000000000000000000")
#: The bearer form of the root key, for raw requests and one-off httpx calls.
ROOT_AUTH = {"authorization": f"Bearer {ROOT_KEY.access_key}:{ROOT_KEY.secret_key}"}
#: The same, as a header line of a raw request.
ROOT_AUTH_LINE = f"Authorization: {ROOT_AUTH['authorization']}\r\n"
#: What gives a server, or the ``chute`` command, the root key.
ROOT_ENV = {
    "CHUTE_ROOT_ACCESS_KEY": ROOT_KEY.access_key,
    "CHUTE_ROOT_SECRET_KEY": ROOT_KEY.secret_key,
}
CLIENT_ENV = {"CHUTE_ACCESS_KEY": ROOT_KEY.access_key, "CHUTE_SECRET_KEY": ROOT_KEY.secret_key}


def root_signer(region: str = "us-east-1") -> SigV4Signer:
    """httpx authentication signing with the root key (SigV4)."""
    return SigV4Signer(ROOT_KEY, region)


@pytest.fixture(autouse=True)
def client_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``chute`` command run by a test, in-process or not, signs with the root key."""
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)


#: Generous: on a busy 2-core machine a server takes 15 to 20 s to import and migrate.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


@dataclass
class LiveServer:
    """A running server process; use as a context manager, or call :meth:`stop`."""

    #: Base URL, e.g. ``http://127.0.0.1:41234`` (the JSON API is under ``/_/api/v1``).
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    #: The server's stdout and stderr.
    log_path: Path

    def log(self) -> str:
        """What the server has printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, wait for a graceful shutdown, SIGKILL if it does not come."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ServerDidNotStart(RuntimeError):
    """The server process exited, or did not answer its health check in time."""


def start_server(
    data_dir: Path,
    env: Mapping[str, str | None] | None = None,
    *,
    attempts: int = 3,
    https: ssl.SSLContext | None = None,
) -> LiveServer:
    """Start a server with its data in ``data_dir`` and wait until it answers.

    ``env`` adds ``CHUTE_*`` settings (``None`` removes one, e.g. the root key's); other
    ``CHUTE_*`` variables of the calling environment are not passed on. A port another
    process takes between choosing and binding it is retried with another port.
    ``https`` (the trust of its certificate) means the server serves HTTPS (``env``
    names its certificate).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _launch(data_dir, _free_port(), env or {}, "https" if https else "http")
    try:
        _wait_until_healthy(server, https or True)
    except BaseException as exc:
        server.stop()
        port_taken = "address already in use" in server.log()
        if isinstance(exc, ServerDidNotStart) and port_taken and attempts > 1:
            return start_server(data_dir, env, attempts=attempts - 1, https=https)
        raise
    return server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole test module; tests should use their own buckets."""
    with start_server(tmp_path_factory.mktemp("chute-server")) as server:
        yield server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(data_dir: Path, port: int, extra: Mapping[str, str | None]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CHUTE_")}
    env.update(CHUTE_DATA_DIR=str(data_dir), CHUTE_ADDRESS=f"127.0.0.1:{port}", **ROOT_ENV)
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _launch(
    data_dir: Path, port: int, extra_env: Mapping[str, str | None], scheme: str
) -> LiveServer:
    log_path = data_dir / "server.log"
    # The child keeps its own copy of the log's file descriptor: no pipe to drain, nothing
    # left open here.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chute", "serve"],
            cwd=data_dir,
            env=_server_env(data_dir, port, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return LiveServer(f"{scheme}://127.0.0.1:{port}", port, data_dir, process, log_path)


def _wait_until_healthy(server: LiveServer, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=1.0, verify=verify) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerDidNotStart(
                    f"server exited with status {server.process.returncode}:\n{server.log()}"
                )
            try:
                if client.get(server.url + HEALTH_PATH).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise ServerDidNotStart(f"no answer within {START_TIMEOUT:.0f} s:\n{server.log()}")


def wait_until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
