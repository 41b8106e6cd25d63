"""Process-level protections of a worker process (Linux).

Time and memory limits are enforced from outside by the pool, which kills a process
whose attempt overruns its timeout or whose resident memory passes the step's cap: the
only way to stop a hung C library, and a cap that counts what is really used (address
space reservations of thread stacks and allocator arenas do not count).
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process if the pool process dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's pipe closing still ends it
        pass
