"""Who asked: every service call carries a :class:`RequestContext`.

The front ends build one per request (the principal comes from authentication once access
keys exist; until then it is ``anonymous``); Chute's own work runs as a principal of its
own (:data:`SYSTEM`, or a pipeline's). Events record it, and observers see it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from chute.access import EVERYTHING, NOTHING, Permissions

#: The principal of requests nobody authenticated.
ANONYMOUS = "anonymous"
#: The principal of Chute's own upkeep (buckets from the configuration, the sweep).
SYSTEM_PRINCIPAL = "chute:system"
#: The principal of writes made by pipelines; their events trigger nothing by default.
PIPELINE_PRINCIPAL = "chute:pipeline/"
#: The source address of work Chute does itself.
LOCAL_ADDRESS = "127.0.0.1"


def new_request_id() -> str:
    """A request id in the style S3 uses: 16 upper-case hex digits."""
    return uuid.uuid4().hex[:16].upper()


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked for a call, from where, and the id that ties its records together."""

    principal: str
    source_ip: str
    request_id: str = field(default_factory=new_request_id)
    #: What the principal may do; nothing unless authentication said otherwise.
    permissions: Permissions = NOTHING
    #: The access key the request was signed with, if any.
    access_key: str | None = None
    #: How many function invocations led to this request, one after the other: what a
    #: function's boto3 sends back in the ``Lineage`` of its ``X-Amzn-Trace-Id`` (see
    #: :mod:`chute.functions.lineage`); 0 for a request no function made.
    chain: int = 0

    @classmethod
    def system(cls, request_id: str | None = None) -> RequestContext:
        """The context of Chute's own upkeep."""
        return cls(SYSTEM_PRINCIPAL, LOCAL_ADDRESS, request_id or new_request_id(), EVERYTHING)

    @classmethod
    def pipeline(cls, name: str, request_id: str, chain: int = 0) -> RequestContext:
        """The context of a write pipeline ``name`` makes (for a run a change ``chain``
        deep in a chain of function invocations started)."""
        return cls(PIPELINE_PRINCIPAL + name, LOCAL_ADDRESS, request_id, EVERYTHING, chain=chain)
