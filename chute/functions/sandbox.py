"""How an execution environment's process is started and killed.

Where Linux namespaces are available (util-linux ``unshare`` and ``setpriv`` that work
here), the runtime runs

- in a PID namespace of its own, so every process it forks dies with it;
- in a mount namespace where a memory file system of its ephemeral storage size is
  mounted over ``/tmp``, so handlers that write ``/tmp/...`` write their own private
  folder, as on Lambda, and where Chute's private folders (the data folder: catalog,
  blobs, master key) are hidden under an empty read-only file system, only the code
  and layers the function needs mounted back, read-only;
- without privileges: as the unprivileged user ``nobody`` where Chute runs as root,
  with no capabilities (so it cannot undo those mounts) and no way to gain any.

Elsewhere it runs in a session of its own (its process group is killed), finds its
scratch folder through ``TMPDIR`` only, and sees what Chute's user sees.
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
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

TMP = Path("/tmp")


#: Where Chute runs as root, the user (and group) functions run as: ``nobody``.
NOBODY = 65534


@dataclass(frozen=True, slots=True)
class _Setup:
    """How runtimes are isolated here: the ``unshare`` command line, and the command
    that runs the runtime without privileges inside it."""

    unshare: tuple[str, ...]
    unprivileged: str
    #: Whether runtimes run as :data:`NOBODY` (Chute runs as root, and this Python
    #: can be run by ``nobody``).
    as_nobody: bool


@functools.cache
def _setup() -> _Setup | None:
    """The isolation that works here, tried from the strongest, or ``None``."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None or shutil.which("setpriv") is None:
        log.warning("functions run without a sandbox: unshare, mount or setpriv is missing")
        return None
    base: tuple[str, ...] = (
        "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private",
    )  # fmt: skip
    if os.geteuid() == 0:
        candidates = [_Setup((unshare, *base), _unprivileged(nobody=True), True)]
        candidates.append(_Setup((unshare, *base), _unprivileged(nobody=False), False))
    else:
        candidates = [
            _Setup((unshare, "--map-current-user", *base), _unprivileged(nobody=False), False)
        ]
    for setup in candidates:
        if _works(setup):
            if os.geteuid() == 0 and not setup.as_nobody:
                log.warning(
                    "functions run as root without capabilities: user nobody cannot run %s",
                    sys.executable,
                )
            return setup
    log.warning("functions run without a private /tmp or PID namespace: unshare does not work here")
    return None


def _unprivileged(*, nobody: bool) -> str:
    """setpriv running its arguments without capabilities (the bounding set emptied
    too, so an exec cannot give any back), unable to gain privileges, and as
    :data:`NOBODY` if ``nobody``."""
    user = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if nobody else []
    flags = [*user, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return shlex.join(["setpriv", *flags, "--"])


def _works(setup: _Setup) -> bool:
    """Whether this Python starts in ``setup``'s sandbox."""
    mounts = _mounts(Path(tempfile.gettempdir()), [Path(sys.prefix)], storage_mb=1, hidden=[])
    script = "\n".join(["set -e", *mounts, f'exec {setup.unprivileged} "$@"'])
    probe = [*setup.unshare, "--", "sh", "-c", script, "probe", sys.executable, "-c", "pass"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def isolated() -> bool:
    """Whether environments get a private ``/tmp`` and PID namespace here."""
    return _setup() is not None


def runs_as_nobody() -> bool:
    """Whether runtimes run as the unprivileged user :data:`NOBODY`."""
    setup = _setup()
    return setup is not None and setup.as_nobody


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
    hidden: Sequence[Path] = (),
    storage_mb: int = 512,
) -> Sandboxed:
    """Start ``argv`` as an environment's runtime, its output on one pipe. ``visible``
    are folders the runtime needs (its code, layers, Python) that stay where they are,
    read-only, even if they are under ``/tmp`` or a ``hidden`` folder; where namespaces
    work, ``hidden`` folders look empty, and its ``/tmp`` holds at most ``storage_mb``
    (Lambda's ephemeral storage)."""
    setup = _setup()
    watched, lifeline = os.pipe()
    try:
        if setup is None:
            command = ["sh", "-c", _script([], ""), "chute-function"]
        else:
            mounts = _mounts(scratch, visible, storage_mb, hidden)
            script = _script(mounts, setup.unprivileged)
            command = [*setup.unshare, "--", "sh", "-c", script, "chute-function"]
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


def _mounts(
    scratch: Path, visible: Sequence[Path], storage_mb: int, hidden: Sequence[Path]
) -> list[str]:
    """Commands that mount a memory file system of ``storage_mb`` over /tmp (at
    ``scratch`` first, in this namespace only), and an empty read-only one over each
    ``hidden`` folder outside /tmp (/tmp is replaced whole), keeping the ``visible``
    folders in place, read-only. A write past the size fails with ENOSPC."""
    place = _quote(scratch)
    steps = [f"mount -t tmpfs -o size={storage_mb}m,mode=1777 chute-tmp {place}"]
    for folder in visible:
        if folder.is_relative_to(TMP) and folder != TMP:
            steps += _bind_read_only(folder, scratch / folder.relative_to(TMP))
    steps.append(f"mount --rbind {place} /tmp")
    masks = [
        folder
        for folder in hidden
        if not folder.is_relative_to(TMP)
        and not any(folder != other and folder.is_relative_to(other) for other in hidden)
    ]
    if not masks:
        return steps
    # Folders to keep inside a masked one are held under /tmp (unreachable from a
    # masked folder), then moved into place over the mask.
    kept = [
        (number, folder, mask)
        for number, folder in enumerate(visible)
        for mask in masks
        if folder.is_relative_to(mask) and not folder.is_relative_to(TMP)
    ]
    hold = TMP / ".chute-hold"
    for number, folder, _ in kept:
        steps += [f"mkdir -p {_quote(hold / str(number))}"]
        steps += [f"mount --bind {_quote(folder)} {_quote(hold / str(number))}"]
    for mask in masks:
        if mask.is_dir():
            steps.append(f"mount -t tmpfs -o size=1m,mode=0755 chute-hidden {_quote(mask)}")
        elif mask.exists():  # a file (a key file) reads as empty
            steps.append(f"mount --bind /dev/null {_quote(mask)}")
    for number, folder, _ in kept:
        steps += [
            f"mkdir -p {_quote(folder)}",
            f"mount --move {_quote(hold / str(number))} {_quote(folder)}",
            f"mount -o remount,bind,ro {_quote(folder)}",
        ]
    steps += [f"mount -o remount,ro {_quote(mask)}" for mask in masks if mask.is_dir()]
    return [*steps, f"rm -rf {_quote(hold)}"]


def _bind_read_only(folder: Path, at: Path) -> list[str]:
    return [
        f"mkdir -p {_quote(at)}",
        f"mount --bind {_quote(folder)} {_quote(at)}",
        f"mount -o remount,bind,ro {_quote(at)}",
    ]


def _quote(path: Path) -> str:
    return shlex.quote(str(path))


def _script(mounts: list[str], unprivileged: str) -> str:
    """The shell that runs its arguments as the runtime (through ``unprivileged``),
    after ``mounts``, and kills it when the lifeline (its standard input) closes; it
    exits as the runtime did. In a PID namespace the shell is its first process: when
    it ends, all end."""
    return "\n".join(
        [
            "set -e",
            *mounts,
            "set +e",
            "exec 3<&0",
            f'{unprivileged} "$@" </dev/null 3<&- &'.lstrip(),
            "runtime=$!",
            "(read _ <&3; kill -KILL $runtime 2>/dev/null) &",
            "exec 3<&-",
            "wait $runtime",
        ]
    )


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (0 once they are gone)."""
    total = 0
    for current in tree_pids(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
            total += _rss(current)
    return total


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants that are still there."""
    found = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append(current)
    return found


def connected_from_tree(pid: int, client_port: int, server_port: int) -> bool:
    """Whether the loopback TCP connection from ``client_port`` to ``server_port`` is
    held by ``pid`` or one of its descendants (Linux: by the socket's inode in
    ``/proc/net/tcp`` and the processes' open files). ``True`` where ``/proc`` cannot
    tell."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return True
    wanted = (f"{client_port:04X}", f"{server_port:04X}")
    inode = None
    for line in table:
        fields = line.split()
        local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
        if (local, remote) == wanted:
            inode = fields[9]
            break
    if inode is None:
        return False
    target = f"socket:[{inode}]"
    for member in tree_pids(pid):
        try:
            descriptors = os.listdir(f"/proc/{member}/fd")
        except OSError:
            continue
        for fd in descriptors:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{member}/fd/{fd}") == target:
                    return True
    return False


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * _PAGE
