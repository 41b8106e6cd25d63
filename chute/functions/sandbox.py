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
from collections.abc import Sequence
from pathlib import Path

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
        probe = [unshare, *flags, "--", "sh", "-c", _enter(Path("/"), []), "probe", "true"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return (unshare, *flags)
    log.warning("functions run without a private /tmp or PID namespace: unshare does not work here")
    return None


def isolated() -> bool:
    """Whether environments get a private ``/tmp`` and PID namespace here."""
    return _unshare_flags() is not None


def start(
    argv: Sequence[str],
    *,
    scratch: Path,
    cwd: Path,
    env: dict[str, str],
    visible: Sequence[Path] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as an environment's runtime, its output on one pipe. ``visible``
    are folders the runtime needs (its code, layers, Python) that stay where they are
    even if they are under ``/tmp``."""
    flags = _unshare_flags()
    command = list(argv)
    if flags is not None:
        command = [*flags, "--", "sh", "-c", _enter(scratch, visible), "chute-function", *argv]
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _enter(scratch: Path, visible: Sequence[Path]) -> str:
    """A shell script that mounts ``scratch`` over /tmp, keeping the ``visible`` folders
    under /tmp in place (read-only), then runs its arguments."""
    steps = ["set -e"]
    for folder in visible:
        if folder.is_relative_to(TMP) and folder != TMP:
            inside = shlex.quote(str(scratch / folder.relative_to(TMP)))
            steps += [
                f"mkdir -p {inside}",
                f"mount --bind {shlex.quote(str(folder))} {inside}",
                f"mount -o remount,bind,ro {inside}",
            ]
    steps += [f"mount --rbind {shlex.quote(str(scratch))} /tmp", 'exec "$@"']
    return "\n".join(steps)


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the runtime and everything it started; wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
