"""One port for every front end: the JSON API under ``/_/``, the Lambda API for requests
signed for ``lambda``, the SQS API for those signed for ``sqs`` (or naming SQS in
``X-Amz-Target``), the Step Functions API's task tokens for ``states``, the S3 API
everywhere else.

Bucket names cannot start with ``_``, so a path-style S3 request never reaches the JSON
API; a virtual-host style request (its bucket in the host name) always goes to S3,
whatever its path. Other AWS services share the address, as ``AWS_ENDPOINT_URL`` wants:
a request goes to the service its SigV4 credential scope names, never by its path alone,
since a bucket may be called ``2015-03-31``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from chute.api.s3.request import bucket_in_host

JSON_PREFIX = "/_/"
_CREDENTIAL = "Credential="
_QUERY_CREDENTIAL = b"X-Amz-Credential="


class RootApp:
    """Dispatches each request to the JSON API, the Lambda API or the S3 API."""

    def __init__(
        self,
        rest: ASGIApp,
        s3: ASGIApp,
        domain: str | None = None,
        *,
        services: dict[str, ASGIApp] | None = None,
    ) -> None:
        self.rest = rest
        self.s3 = s3
        self.domain = domain
        #: Front ends of other AWS services, by the service name requests are signed for.
        self.services = services or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the JSON API sets up the event loop's limits
            await self.rest(scope, receive, send)
            return
        if scope["type"] == "http":
            service = signed_service(scope) or targeted_service(scope)
            other = self.services.get(service or "") if self.services else None
            if other is not None:
                await other(scope, receive, send)
                return
            if not self._is_json(scope):
                await self.s3(scope, receive, send)
                return
        await self.rest(scope, receive, send)

    def _is_json(self, scope: Scope) -> bool:
        if not scope["path"].startswith(JSON_PREFIX):
            return False
        return bucket_in_host(scope, self.domain) is None


def signed_service(scope: Scope) -> str | None:
    """The service a SigV4 request is signed for: the fourth part of the credential
    scope (``KEY/DATE/REGION/SERVICE/aws4_request``) in its ``Authorization`` header or
    its ``X-Amz-Credential`` parameter; ``None`` for any other request."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            start = header.find(_CREDENTIAL)
            if start < 0:
                return None
            credential = header[start + len(_CREDENTIAL) :].split(",", 1)[0]
            return _service_of(credential)
    query: bytes = scope.get("query_string", b"")
    if _QUERY_CREDENTIAL in query:
        for key, value in parse_qsl(query.decode("latin-1")):
            if key == "X-Amz-Credential":
                return _service_of(value)
    return None


#: JSON protocols name their service in ``X-Amz-Target`` (``AmazonSQS.SendMessage``).
_TARGET_PREFIXES = {b"AmazonSQS.": "sqs", b"AWSStepFunctions.": "states"}


def targeted_service(scope: Scope) -> str | None:
    """The service an unsigned request of a JSON protocol names in ``X-Amz-Target``, so
    it reaches that service's front end and is refused as that service refuses it."""
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            for prefix, service in _TARGET_PREFIXES.items():
                if value.startswith(prefix):
                    return service
    return None


def _service_of(credential: str) -> str | None:
    parts = credential.strip().split("/")
    return parts[3] if len(parts) == 5 else None
