"""What the front ends that invoke functions (the Lambda API, the JSON API) share: the
threads synchronous invocations run in, and the largest event that may be queued.

Invocations get threads apart from those every other request of the event loop shares:
invocations that run for minutes never starve the S3 API.
"""

from __future__ import annotations

import asyncio

import anyio

#: Largest asynchronous (queued) invocation's payload, as Lambda's.
MAX_EVENT_PAYLOAD = 1024 * 1024
#: Threads synchronous invocations may hold at once, per event loop.
INVOCATION_THREADS = 64
_limiters: dict[int, anyio.CapacityLimiter] = {}


def invocation_threads() -> anyio.CapacityLimiter:
    """This event loop's limiter for invocation threads."""
    loop = id(asyncio.get_running_loop())
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(INVOCATION_THREADS)
    return limiter
