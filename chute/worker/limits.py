"""Per-attempt limits inside a worker process (Linux).

The memory cap is an address-space limit (``RLIMIT_AS``) set to what the process already
maps plus the step's cap: an allocation past it fails (``MemoryError`` in Python, an
error from C libraries) instead of growing until the machine swaps. Timeouts are not
enforced here: the pool kills the whole process when an attempt overruns.
"""

from __future__ import annotations

import ctypes
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process if the pool process dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's pipe closing still ends it
        pass


def mapped_bytes() -> int:
    """The address space this process maps now (``VmSize``)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()


@contextmanager
def memory_cap(megabytes: int) -> Iterator[None]:
    """Cap further address-space growth at ``megabytes`` for the block (0: no cap)."""
    if megabytes <= 0:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped_bytes() + megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
