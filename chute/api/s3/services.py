"""What the S3 API's handlers are given: the services it was built with."""

from __future__ import annotations

from dataclasses import dataclass

from chute.api.s3.auth import Authenticate, SecretLookup, unguarded
from chute.api.s3.request import S3Request
from chute.clock import Clock, system_clock
from chute.hooks import Hooks
from chute.objects.service import ObjectService
from chute.pipelines.deliveries import Destinations

#: Where the app keeps its services in each request's scope.
SERVICES_SCOPE = "chute_s3"


@dataclass(frozen=True, slots=True)
class S3Services:
    """What the S3 API is built with."""

    objects: ObjectService
    hooks: Hooks
    region: str
    #: An upload whose client sends nothing for this long fails.
    body_timeout_seconds: float
    #: Largest XML request body, in bytes.
    max_xml_bytes: int
    #: Base domain of virtual-host style requests (``None``: path style only).
    domain: str | None = None
    authenticate: Authenticate = unguarded
    #: The secrets of access keys, to check browser uploads' POST policies with
    #: (``None``: no access keys, authentication is off; a policy's conditions are
    #: still enforced, its signature cannot be checked).
    secrets: SecretLookup | None = None
    clock: Clock = system_clock
    #: What bucket notification configurations may name (``None``: nothing).
    destinations: Destinations | None = None


def services_of(request: S3Request) -> S3Services:
    """The services of the app answering ``request``."""
    found: S3Services = request.http.scope[SERVICES_SCOPE]
    return found
