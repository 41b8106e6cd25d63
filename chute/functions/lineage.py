"""Recursive loop detection, as AWS Lambda does it: each invocation's X-Ray trace header
(``Lambda-Runtime-Trace-Id``, which the runtime client puts in ``_X_AMZN_TRACE_ID``)
carries ``Lineage=HASH:N``, N the invocations in its chain so far; boto3 inside a
function copies the header onto every request it makes (``X-Amzn-Trace-Id``), so an
object a function writes records how deep in a chain it was written, and the invocation
it triggers is one deeper. Past :data:`MAX_CHAIN` the invocation is stopped, with the
reason, instead of looping for ever (a function writing to the bucket that triggers it).
"""

from __future__ import annotations

import re
import time
import uuid
import zlib

#: Invocations one chain of requests may make: Lambda stops the 17th (about 16).
MAX_CHAIN = 16
#: The payload key of a pipeline job holding the depth of the change that started its
#: run: the writes of its outputs are that deep too, so a loop through a pipeline's
#: outputs and a function is still counted.
EVENT_CHAIN = "event_chain"
_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=[0-9a-fA-F]{1,16}:(\d{1,6})(?:;|$)")


def trace_header(function: str, chain: int) -> str:
    """An X-Ray trace header for an invocation ``chain`` deep, in Lambda's form."""
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    lineage = f"{zlib.crc32(function.encode()):08x}:{chain}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0;Lineage={lineage}"


def chain_of(header: str | None) -> int:
    """The invocations a request's ``X-Amzn-Trace-Id`` says led to it (0: none, or no
    lineage in it; at most ``MAX_CHAIN + 1``)."""
    if not header:
        return 0
    found = _LINEAGE.search(header)
    # Past the limit every depth is alike: a forged one says no more than that.
    return min(int(found[1]), MAX_CHAIN + 1) if found else 0


def loop_stopped(function: str, chain: int) -> str:
    """Why an invocation of ``function`` (or of a pipeline's function steps) ``chain``
    deep is not made."""
    return (
        f"recursive loop detected: invoking {function!r} would make {chain} invocations in "
        f"one chain of requests, more than {MAX_CHAIN} (a function writing to the bucket "
        "that triggers it?); the invocation was stopped"
    )
