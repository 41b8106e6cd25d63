"""A small client for Chute's JSON API (``/_/api/v1``), used by the ``chute`` command.

:class:`ChuteClient` has one method per endpoint, gathered from one module per area
(:mod:`~chute.cli.client.buckets`, :mod:`~chute.cli.client.objects`,
:mod:`~chute.cli.client.listings`, :mod:`~chute.cli.client.processing`,
:mod:`~chute.cli.client.keys`, :mod:`~chute.cli.client.functions`), all on the requests
and error handling of :mod:`~chute.cli.client.transport`, signed by
:mod:`~chute.cli.client.signing`.
"""

from __future__ import annotations

from chute.cli.client.buckets import BucketEndpoints
from chute.cli.client.functions import FunctionEndpoints
from chute.cli.client.keys import KeyEndpoints
from chute.cli.client.listings import ListingEndpoints
from chute.cli.client.objects import (
    Deletion,
    Download,
    ObjectEndpoints,
    ObjectInfo,
    ProgressCallback,
)
from chute.cli.client.processing import ProcessingEndpoints
from chute.cli.client.transport import ChuteClientError, ChuteUnreachable

__all__ = [
    "ChuteClient",
    "ChuteClientError",
    "ChuteUnreachable",
    "Deletion",
    "Download",
    "ObjectInfo",
    "ProgressCallback",
]


class ChuteClient(
    BucketEndpoints,
    ObjectEndpoints,
    ListingEndpoints,
    ProcessingEndpoints,
    KeyEndpoints,
    FunctionEndpoints,
):
    """A connection pool to one Chute server, with one method per JSON API endpoint.

    Use it as a context manager, or call :meth:`close`, to release its connections.
    """
