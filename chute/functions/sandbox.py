"""How an execution environment's process is started and killed.

Where Linux namespaces are available (util-linux ``unshare`` that works here), the
runtime runs in a PID namespace of its own, so every process it forks dies with it,
and a mount namespace where its scratch folder is mounted over ``/tmp``, so handlers
that write ``/tmp/...`` write their own private folder, as on Lambda. Elsewhere it
runs in a session of its own (its process group is killed) and finds its scratch
folder through ``TMPDIR`` only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

TMP = Path("/tmp")


@functools.cache
def _unshare_flags() -> tuple[str, ...] | None:
    """The ``unshare`` flags that give a PID and mount namespace here, or ``None``."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        return None
    base: tuple[str, ...] = (
        "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
    )  # fmt: skip
    options = [base] if os.geteuid() == 0 else []
    options.append(("--map-current-user", *base))
    for flags in options:
        probe = [unshare, *flags, "--", "sh", "-c", _probe_script(), "probe", "true"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return (unshare, *flags)
    log.warning("functions run without a private /tmp or PID namespace: unshare does not work here")
    return None


def _probe_script() -> str:
    mounts = _mounts(Path(tempfile.gettempdir()), [], storage_mb=1)
    return "\n".join(["set -e", *mounts, 'exec "$@"'])


def isolated() -> bool:
    """Whether environments get a private ``/tmp`` and PID namespace here."""
    return _unshare_flags() is not None


class Sandboxed:
    """A runtime started by :func:`start`: its process, its output, and its lifeline,
    a pipe whose closing (by :meth:`kill`, or by this process dying however it dies)
    kills the runtime, so no environment outlives the Chute process that ran it."""

    def __init__(self, process: subprocess.Popen[bytes], lifeline: int) -> None:
        self.process = process
        self._lifeline = lifeline

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def poll(self) -> int | None:
        """The runtime's exit status (negative: the signal that killed it), or ``None``
        while it runs."""
        code = self.process.poll()
        if code is not None and code > _SIGNALLED:
            # The shell that waited for the runtime reports a signal as 128 + N.
            with contextlib.suppress(ValueError):
                return -signal.Signals(code - _SIGNALLED).value
        return code

    def kill(self) -> None:
        """Kill the runtime and everything it started; wait for it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self._lifeline)


_SIGNALLED = 128


def start(
    argv: Sequence[str],
    *,
    scratch: Path,
    cwd: Path,
    env: dict[str, str],
    visible: Sequence[Path] = (),
    storage_mb: int = 512,
) -> Sandboxed:
    """Start ``argv`` as an environment's runtime, its output on one pipe. ``visible``
    are folders the runtime needs (its code, layers, Python) that stay where they are
    even if they are under ``/tmp``; where namespaces work, its ``/tmp`` holds at most
    ``storage_mb`` (Lambda's ephemeral storage)."""
    flags = _unshare_flags()
    watched, lifeline = os.pipe()
    try:
        mounts = _mounts(scratch, visible, storage_mb) if flags is not None else []
        script = _script(mounts)
        command = [*(flags or ()), *(["--"] if flags else []), "sh", "-c", script, "chute-function"]
        process = subprocess.Popen(
            [*command, *argv],
            cwd=cwd,
            env=env,
            stdin=watched,  # the lifeline: the shell reads it, the runtime never sees it
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except BaseException:
        os.close(lifeline)
        raise
    finally:
        os.close(watched)
    return Sandboxed(process, lifeline)


def _mounts(scratch: Path, visible: Sequence[Path], storage_mb: int) -> list[str]:
    """Commands that mount a memory file system of ``storage_mb`` over /tmp (at
    ``scratch`` first, in this namespace only), keeping the ``visible`` folders under
    /tmp in place (read-only). A write past the size fails with ENOSPC."""
    place = shlex.quote(str(scratch))
    steps = [f"mount -t tmpfs -o size={storage_mb}m,mode=1777 chute-tmp {place}"]
    for folder in visible:
        if folder.is_relative_to(TMP) and folder != TMP:
            inside = shlex.quote(str(scratch / folder.relative_to(TMP)))
            steps += [
                f"mkdir -p {inside}",
                f"mount --bind {shlex.quote(str(folder))} {inside}",
                f"mount -o remount,bind,ro {inside}",
            ]
    return [*steps, f"mount --rbind {place} /tmp"]


def _script(mounts: list[str]) -> str:
    """The shell that runs its arguments as the runtime, after ``mounts``, and kills it
    when the lifeline (its standard input) closes; it exits as the runtime did. In a
    PID namespace the shell is its first process: when it ends, all end."""
    return "\n".join(
        [
            "set -e",
            *mounts,
            "set +e",
            "exec 3<&0",
            '"$@" </dev/null 3<&- &',
            "runtime=$!",
            "(read _ <&3; kill -KILL $runtime 2>/dev/null) &",
            "exec 3<&-",
            "wait $runtime",
        ]
    )


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (0 once they are gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += _rss(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * _PAGE
