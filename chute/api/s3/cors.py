"""CORS per bucket: PutBucketCors, GetBucketCors and DeleteBucketCors, the preflight
``OPTIONS`` requests browsers send before a cross-origin request, and the CORS headers
of the requests that follow.

A bucket keeps its rules with its record (``Bucket.cors``, each rule as plain data). A
request matches a rule when its ``Origin`` matches one of the rule's origins (``*``
alone matches any; one ``*`` inside an origin stands for any run of characters), its
method (for a preflight, ``Access-Control-Request-Method``) is one of the rule's, and
each header of ``Access-Control-Request-Headers`` matches one of the rule's headers
(compared without regard to case, one ``*`` allowed). The first rule that matches
answers, as in S3.

Preflights need no authentication (browsers send no credentials with them), so their
operation is routed as anonymous. Every other request with an ``Origin`` header gets the
matching rule's headers on its answer, success or error, from :class:`CorsHeaders`,
which reads a bucket's rules at most once a second (:class:`RuleCache`); a request
without ``Origin`` costs it one look through the header list.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio.to_thread
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chute.api.s3.body import check_integrity, read_xml
from chute.api.s3.operations import route
from chute.api.s3.request import S3Request, target_of
from chute.api.s3.services import S3Services, services_of
from chute.api.s3.xml import element, leaf, optional, parse, xml_response
from chute.context import ANONYMOUS, RequestContext
from chute.errors import (
    AccessForbidden,
    ChuteError,
    InvalidArgument,
    InvalidRequest,
    MalformedXML,
    MissingOrigin,
    NoSuchBucket,
    NoSuchCORSConfiguration,
)
from chute.objects.service import ObjectService

log = logging.getLogger(__name__)

#: Most rules one configuration may hold.
MAX_RULES: Final = 100
#: Methods a rule may allow.
METHODS: Final = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_ID_LENGTH: Final = 255
#: How long a bucket's rules, once read, serve requests with an ``Origin`` header.
CACHE_SECONDS: Final = 1.0
#: Where :class:`CorsHeaders` keeps its :class:`RuleCache` in each request's scope.
CACHE_SCOPE: Final = "chute_s3_cors"
NOT_ALLOWED: Final = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
    "of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)
VARY: Final = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_CACHE_ENTRIES: Final = 1024
_RULE_ELEMENTS: Final = frozenset(
    {"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"}
)


@dataclass(frozen=True, slots=True)
class CorsRule:
    """One ``CORSRule``."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None

    def allows(self, origin: str, method: str, headers: Sequence[str]) -> bool:
        """Whether a request from ``origin`` with ``method``, announcing ``headers``
        (lower case), may be made."""
        if method not in self.allowed_methods:
            return False
        if not any(_matches(pattern, origin) for pattern in self.allowed_origins):
            return False
        allowed = [pattern.lower() for pattern in self.allowed_headers]
        return all(any(_matches(pattern, name) for pattern in allowed) for name in headers)

    def answer(self, origin: str, headers: Sequence[str]) -> dict[str, str]:
        """The CORS headers of an answer to ``origin`` this rule allowed."""
        wildcard = "*" in self.allowed_origins
        answer = {"access-control-allow-origin": "*" if wildcard else origin}
        if not wildcard:
            answer["access-control-allow-credentials"] = "true"
        answer["access-control-allow-methods"] = ", ".join(self.allowed_methods)
        if headers:
            answer["access-control-allow-headers"] = ", ".join(headers)
        if self.expose_headers:
            answer["access-control-expose-headers"] = ", ".join(self.expose_headers)
        if self.max_age_seconds is not None:
            answer["access-control-max-age"] = str(self.max_age_seconds)
        answer["vary"] = VARY
        return answer

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "AllowedOrigins": list(self.allowed_origins),
            "AllowedMethods": list(self.allowed_methods),
        }
        if self.allowed_headers:
            data["AllowedHeaders"] = list(self.allowed_headers)
        if self.expose_headers:
            data["ExposeHeaders"] = list(self.expose_headers)
        if self.max_age_seconds is not None:
            data["MaxAgeSeconds"] = self.max_age_seconds
        if self.id is not None:
            data["ID"] = self.id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorsRule:
        return cls(
            tuple(data["AllowedOrigins"]),
            tuple(data["AllowedMethods"]),
            tuple(data.get("AllowedHeaders", ())),
            tuple(data.get("ExposeHeaders", ())),
            data.get("MaxAgeSeconds"),
            data.get("ID"),
        )


def find_rule(
    rules: Iterable[CorsRule], origin: str, method: str, headers: Sequence[str] = ()
) -> CorsRule | None:
    """The first rule that allows the request, if any."""
    return next((rule for rule in rules if rule.allows(origin, method, headers)), None)


def requested_headers(value: str | None) -> list[str]:
    """The names of ``Access-Control-Request-Headers``, in lower case."""
    if not value:
        return []
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def _matches(pattern: str, value: str) -> bool:
    """``pattern`` with at most one ``*``, which stands for any run of characters."""
    if "*" not in pattern:
        return pattern == value
    prefix, suffix = pattern.split("*", 1)
    return (
        len(value) >= len(prefix) + len(suffix)
        and value.startswith(prefix)
        and value.endswith(suffix)
    )


# --- the configuration document ------------------------------------------------------


def parse_configuration(root: ET.Element) -> list[CorsRule]:
    """The rules of a ``CORSConfiguration`` document, refused as S3 refuses them:
    ``MalformedXML`` for a document of the wrong shape, ``InvalidRequest`` for a method
    or wildcard S3 does not take."""
    entries = list(root)
    if root.tag != "CORSConfiguration" or any(node.tag != "CORSRule" for node in entries):
        raise MalformedXML()
    if not 1 <= len(entries) <= MAX_RULES:
        raise MalformedXML()
    return [_rule(entry) for entry in entries]


def _rule(node: ET.Element) -> CorsRule:
    values: dict[str, list[str]] = {tag: [] for tag in _RULE_ELEMENTS}
    for child in node:
        if child.tag not in _RULE_ELEMENTS or len(child):
            raise MalformedXML()
        values[child.tag].append(child.text or "")
    origins, methods = values["AllowedOrigin"], values["AllowedMethod"]
    if not origins or not methods or len(values["ID"]) > 1 or len(values["MaxAgeSeconds"]) > 1:
        raise MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for kind in ("AllowedOrigin", "AllowedHeader"):
        for value in values[kind]:
            if value.count("*") > 1:
                raise InvalidRequest(f'{kind} "{value}" can not have more than one wildcard.')
    for value in values["ExposeHeader"]:
        if "*" in value:
            raise InvalidRequest(
                f'ExposeHeader "{value}" contains wildcard. We currently do not support '
                "wildcard for ExposeHeader."
            )
    rule_id = values["ID"][0] if values["ID"] else None
    if rule_id is not None and len(rule_id) > MAX_ID_LENGTH:
        raise InvalidArgument(f"ID length should not exceed allowed limit of {MAX_ID_LENGTH}")
    return CorsRule(
        tuple(origins),
        tuple(methods),
        tuple(values["AllowedHeader"]),
        tuple(values["ExposeHeader"]),
        _max_age(values["MaxAgeSeconds"]),
        rule_id,
    )


def _max_age(values: list[str]) -> int | None:
    if not values:
        return None
    value = values[0].strip()
    if not (value.isascii() and value.isdigit()):
        raise MalformedXML()
    return int(value)


def configuration_document(rules: Iterable[CorsRule]) -> ET.Element:
    """The ``CORSConfiguration`` GetBucketCors answers with."""
    return element(
        "CORSConfiguration",
        *(
            element(
                "CORSRule",
                optional("ID", rule.id),
                *(leaf("AllowedHeader", value) for value in rule.allowed_headers),
                *(leaf("AllowedMethod", value) for value in rule.allowed_methods),
                *(leaf("AllowedOrigin", value) for value in rule.allowed_origins),
                *(leaf("ExposeHeader", value) for value in rule.expose_headers),
                optional("MaxAgeSeconds", rule.max_age_seconds),
            )
            for rule in rules
        ),
    )


# --- the operations ------------------------------------------------------------------


@route("PUT", "bucket", "cors")
async def put_bucket_cors(request: S3Request) -> Response:
    raw = await read_xml(request, parse=False)
    check_integrity(request, raw)
    rules = parse_configuration(parse(raw))
    service = services_of(request).objects
    data = [rule.to_json() for rule in rules]
    await anyio.to_thread.run_sync(service.set_cors, request.context, request.bucket, data)
    cache_of(request).forget(request.bucket)
    return Response()


@route("GET", "bucket", "cors")
async def get_bucket_cors(request: S3Request) -> Response:
    service = services_of(request).objects
    bucket = await anyio.to_thread.run_sync(service.get_bucket, request.context, request.bucket)
    if not bucket.cors:
        raise NoSuchCORSConfiguration()
    return xml_response(configuration_document(CorsRule.from_json(r) for r in bucket.cors))


@route("DELETE", "bucket", "cors")
async def delete_bucket_cors(request: S3Request) -> Response:
    service = services_of(request).objects
    await anyio.to_thread.run_sync(service.set_cors, request.context, request.bucket, None)
    cache_of(request).forget(request.bucket)
    return Response(status_code=204)


@route("OPTIONS", "bucket", "preflight", anonymous=True)
@route("OPTIONS", "object", "preflight", anonymous=True)
async def preflight(request: S3Request) -> Response:
    """A browser asks whether it may send a cross-origin request: 200 with the first
    matching rule's headers, or 403 ``AccessForbidden``."""
    origin = request.headers.get("origin")
    if not origin:
        raise MissingOrigin()
    method = request.headers.get("access-control-request-method", "")
    headers = requested_headers(request.headers.get("access-control-request-headers"))
    rules = await cache_of(request).rules(request.bucket)
    if rules is None:
        refusal = "CORSResponse: Bucket not found"
    elif not rules:
        refusal = "CORSResponse: CORS is not enabled for this bucket."
    else:
        rule = find_rule(rules, origin, method, headers)
        if rule is not None:
            return Response(headers=rule.answer(origin, headers))
        refusal = NOT_ALLOWED
    error = AccessForbidden(refusal)
    error.details = {
        "Method": method,
        "ResourceType": "OBJECT" if request.target.key is not None else "BUCKET",
    }
    raise error


# --- the headers of the requests that follow -----------------------------------------


class RuleCache:
    """Buckets' CORS rules as lately read, each kept for ``seconds``.

    Browsers send ``Origin`` with every cross-origin request, mostly to a few buckets; a
    change made in this process applies at once (the operation forgets the bucket), one
    made by another process sharing the catalog within ``seconds``.
    """

    def __init__(self, objects: ObjectService, seconds: float = CACHE_SECONDS) -> None:
        self.objects = objects
        self.seconds = seconds
        self._entries: dict[str, tuple[float, tuple[CorsRule, ...] | None]] = {}

    async def rules(self, bucket: str) -> tuple[CorsRule, ...] | None:
        """The bucket's rules (empty: none set), ``None`` if there is no such bucket."""
        now = time.monotonic()
        found = self._entries.get(bucket)
        if found is not None and now - found[0] < self.seconds:
            return found[1]
        rules = await anyio.to_thread.run_sync(self._read, bucket)
        if self.seconds > 0:
            if len(self._entries) >= _CACHE_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[bucket] = (now, rules)
        return rules

    def forget(self, bucket: str) -> None:
        self._entries.pop(bucket, None)

    def _read(self, bucket: str) -> tuple[CorsRule, ...] | None:
        context = RequestContext(ANONYMOUS, "")
        try:
            data = self.objects.cors_rules(context, bucket)
        except NoSuchBucket:
            return None
        return tuple(CorsRule.from_json(rule) for rule in data or ())


def cache_of(request: S3Request) -> RuleCache:
    """The rule cache of the app answering ``request`` (an uncached reader for an app
    not wrapped in :class:`CorsHeaders`)."""
    found: RuleCache | None = request.http.scope.get(CACHE_SCOPE)
    return found if found is not None else RuleCache(services_of(request).objects, 0)


class CorsHeaders:
    """ASGI middleware: the CORS headers of the bucket's first matching rule on the
    answer to every request with an ``Origin`` header (preflights aside: their handler
    answers them)."""

    def __init__(
        self, app: ASGIApp, services: S3Services, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self.app = app
        self.domain = services.domain
        self.cache = RuleCache(services.objects, cache_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[CACHE_SCOPE] = self.cache
        origin = _origin(scope)
        headers = None
        if origin is not None and scope["method"] != "OPTIONS":
            headers = await self._headers(scope, origin)
        if headers is None:
            await self.app(scope, receive, send)
            return
        raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _headers(self, scope: Scope, origin: str) -> dict[str, str] | None:
        try:
            bucket = target_of(scope, self.domain).bucket
            rules = await self.cache.rules(bucket) if bucket is not None else None
        except ChuteError:  # a key the request itself will be refused for
            return None
        except Exception:  # the catalog failed: the request answers for itself
            log.warning("could not read the CORS rules of %r", scope["path"], exc_info=True)
            return None
        rule = find_rule(rules or (), origin, scope["method"])
        return None if rule is None else rule.answer(origin, ())


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            text: str = value.decode("latin-1")
            return text
    return None
