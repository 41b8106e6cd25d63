"""CORS rules: the configuration document and how a request matches a rule."""

from __future__ import annotations

import re

import pytest

from chute.api.s3.cors import (
    CorsRule,
    configuration_document,
    find_rule,
    parse_configuration,
    requested_headers,
)
from chute.api.s3.xml import parse, render
from chute.errors import InvalidArgument, InvalidRequest, MalformedXML

RULE = CorsRule(
    ("https://app.example.com", "http://*.example.org"),
    ("PUT", "POST"),
    ("Content-Type", "x-amz-*"),
    ("ETag",),
    60,
    "uploads",
)
ANY = CorsRule(("*",), ("GET",))


def document(*rules: str) -> bytes:
    return ("<CORSConfiguration>" + "".join(rules) + "</CORSConfiguration>").encode()


@pytest.mark.parametrize(
    ("origin", "method", "headers", "allowed"),
    [
        ("https://app.example.com", "PUT", [], True),
        ("https://app.example.com", "GET", [], False),
        ("https://APP.example.com", "PUT", [], False),  # origins are compared exactly
        ("http://cdn.example.org", "POST", ["content-type", "x-amz-meta-a"], True),
        ("http://a.b.example.org", "POST", [], True),
        ("http://example.org", "POST", [], False),
        ("https://cdn.example.org", "POST", [], False),
        ("https://app.example.com", "PUT", ["authorization"], False),
    ],
)
def test_a_rule_allows(origin: str, method: str, headers: list[str], allowed: bool) -> None:
    assert RULE.allows(origin, method, headers) is allowed


def test_the_first_matching_rule_answers() -> None:
    assert find_rule([RULE, ANY], "https://app.example.com", "GET") is ANY
    assert find_rule([RULE, ANY], "https://app.example.com", "PUT") is RULE
    assert find_rule([RULE, ANY], "https://x.test", "GET", ["x-custom"]) is None


def test_answers() -> None:
    assert RULE.answer("https://app.example.com", ["content-type"]) == {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "PUT, POST",
        "access-control-allow-headers": "content-type",
        "access-control-expose-headers": "ETag",
        "access-control-max-age": "60",
        "vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    assert ANY.answer("https://x.test", [])["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in ANY.answer("https://x.test", [])


def test_requested_headers() -> None:
    assert requested_headers(None) == []
    assert requested_headers(" Content-Type ,X-Amz-Date,, ") == ["content-type", "x-amz-date"]


def test_the_document_round_trips() -> None:
    rules = [RULE, ANY]
    assert parse_configuration(parse(render(configuration_document(rules)))) == rules
    assert [CorsRule.from_json(r.to_json()) for r in rules] == rules


@pytest.mark.parametrize(
    "raw",
    [
        b"<Other/>",
        document(),
        document("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"),
        document("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"),
        document(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<Unknown>1</Unknown></CORSRule>"
        ),
        document(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"
        ),
        document(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
            * 101
        ),
    ],
)
def test_malformed_documents(raw: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_configuration(parse(raw))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod> GET</AllowedMethod>",
            "Unsupported method is  GET",
        ),
        ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>OPTIONS</AllowedMethod>", "OPTIONS"),
        (
            "<AllowedOrigin>**</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
            'AllowedOrigin "**"',
        ),
        (
            "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            "<AllowedHeader>x-*-*</AllowedHeader>",
            'AllowedHeader "x-*-*" can not have more than one wildcard.',
        ),
    ],
)
def test_refused_rules(rule: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        parse_configuration(parse(document(f"<CORSRule>{rule}</CORSRule>")))


def test_a_long_id_is_refused() -> None:
    rule = f"<ID>{'i' * 256}</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    with pytest.raises(InvalidArgument):
        parse_configuration(parse(document(f"<CORSRule>{rule}</CORSRule>")))
