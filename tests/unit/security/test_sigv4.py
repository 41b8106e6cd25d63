"""SigV4 verification against AWS's published examples, and what parsing refuses: the
errors S3 answers, with its codes and messages."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import timedelta

import pytest

from chute.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    ChuteError,
    HeadersNotSigned,
    InvalidArgument,
    MissingContentSHA256,
    NotImplementedFeature,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnsupportedAuthorization,
    XAmzContentSHA256Mismatch,
)
from chute.security.sigv4 import (
    EMPTY_SHA256,
    Authorization,
    PayloadKind,
    SignedRequest,
    canonical_request,
    parse,
    payload_kind,
    verify,
)
from tests.unit.security.vectors import (
    ACCESS_KEY,
    CHUNKED_SEED,
    CREDENTIAL,
    HOST,
    REGION,
    SECRET_KEY,
    TIME,
    TIMESTAMP,
    TRAILER_SEED,
    check,
    parsed,
    replace_header,
)

WELCOME_SHA256 = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()


def header_request(
    method: str,
    path: bytes,
    query: bytes,
    headers: Sequence[tuple[str, str]],
    signed: str,
    signature: str,
) -> SignedRequest:
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders={signed},Signature={signature}"
    )
    return SignedRequest(method, path, query, [*headers, ("authorization", authorization)])


# --- AWS's worked examples -----------------------------------------------------------

GET_OBJECT = header_request(
    "GET",
    b"/test.txt",
    b"",
    [
        ("host", HOST),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", TIMESTAMP),
    ],
    "host;range;x-amz-content-sha256;x-amz-date",
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
)


def put_object(path: bytes) -> SignedRequest:
    headers = [
        ("host", HOST),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", TIMESTAMP),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", WELCOME_SHA256),
    ]
    signed = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
    signature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    return header_request("PUT", path, b"", headers, signed, signature)


def bucket_get(query: bytes, signature: str) -> SignedRequest:
    headers = [("host", HOST), ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", TIMESTAMP)]
    return header_request(
        "GET", b"/", query, headers, "host;x-amz-content-sha256;x-amz-date", signature
    )


PRESIGNED_QUERY = (
    b"X-Amz-Algorithm=AWS4-HMAC-SHA256"
    b"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    b"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    b"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)
PRESIGNED_GET = SignedRequest("GET", b"/test.txt", PRESIGNED_QUERY, [("host", HOST)])


def chunked_put(
    payload: str, signed: str, signature: str, *extra: tuple[str, str]
) -> SignedRequest:
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", TIMESTAMP),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", payload),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
        *extra,
    ]
    return header_request("PUT", b"/examplebucket/chunkObject.txt", b"", headers, signed, signature)


EXAMPLES = {
    "GET Object": GET_OBJECT,
    "PUT Object": put_object(b"/test%24file.text"),
    "PUT Object, path as in the request line": put_object(b"/test$file.text"),
    "GET Bucket Lifecycle": bucket_get(
        b"lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    ),
    "Get Bucket (List Objects)": bucket_get(
        b"max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    ),
    "presigned GET Object": PRESIGNED_GET,
    "chunked PUT Object (seed)": chunked_put(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class",
        CHUNKED_SEED,
    ),
    "chunked PUT Object with a trailer (seed)": chunked_put(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "content-encoding;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
        TRAILER_SEED,
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
    ),
}


@pytest.mark.parametrize("request_", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_aws_examples_verify(request_: SignedRequest) -> None:
    auth = parsed(request_, TIME)

    key = verify(request_, auth, SECRET_KEY, region=REGION)

    assert key.seed_signature == auth.signature
    assert (key.timestamp, key.scope) == (TIMESTAMP, "20130524/us-east-1/s3/aws4_request")


@pytest.mark.parametrize("request_", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_aws_examples_fail_with_another_secret(request_: SignedRequest) -> None:
    auth = parsed(request_, TIME)

    with pytest.raises(SignatureDoesNotMatch):
        verify(request_, auth, SECRET_KEY[:-1] + "Z", region=REGION)


def test_get_object_canonical_request_and_string_to_sign_are_the_documented_ones() -> None:
    auth = parsed(GET_OBJECT, TIME)

    canonical = canonical_request(GET_OBJECT, auth, EMPTY_SHA256, double_encode=False)

    assert canonical == (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert digest == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"


def test_a_mismatch_carries_what_the_server_signed() -> None:
    tampered = replace_header(GET_OBJECT, "range", "bytes=0-10")

    with pytest.raises(SignatureDoesNotMatch) as caught:
        check(tampered)

    error = caught.value
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert "range:bytes=0-10\n" in error.canonical_request
    assert error.string_to_sign.startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")
    assert error.string_to_sign_bytes.startswith("41 57 53 34 2d")
    assert bytes.fromhex(error.canonical_request_bytes) == error.canonical_request.encode()


def test_presigned_example_is_parsed() -> None:
    auth = parsed(PRESIGNED_GET, TIME + timedelta(hours=1))

    assert auth == Authorization(
        access_key=ACCESS_KEY,
        date="20130524",
        region=REGION,
        service="s3",
        signed_headers=("host",),
        signature="aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        amz_date=TIME,
        payload_hash="UNSIGNED-PAYLOAD",
        presigned=True,
        expires=86400,
    )
    assert auth.payload is PayloadKind.UNSIGNED


def test_presigned_url_expires() -> None:
    assert parse(PRESIGNED_GET, TIME + timedelta(seconds=86400)) is not None

    with pytest.raises(AccessDenied, match=r"^Request has expired$") as caught:
        parse(PRESIGNED_GET, TIME + timedelta(seconds=86401))
    assert (caught.value.status, caught.value.code) == (403, "AccessDenied")


def test_presigned_url_from_the_future_is_not_yet_valid() -> None:
    assert parse(PRESIGNED_GET, TIME - timedelta(minutes=15)) is not None

    with pytest.raises(AccessDenied, match=r"^Request is not yet valid$"):
        parse(PRESIGNED_GET, TIME - timedelta(minutes=15, seconds=1))


@pytest.mark.parametrize("skew", [timedelta(minutes=15, seconds=1), -timedelta(minutes=16)])
def test_header_auth_refuses_a_skewed_clock(skew: timedelta) -> None:
    assert parse(GET_OBJECT, TIME + timedelta(minutes=15)) is not None

    with pytest.raises(RequestTimeTooSkewed) as caught:
        parse(GET_OBJECT, TIME + skew)
    assert (caught.value.status, caught.value.code) == (403, "RequestTimeTooSkewed")


def test_wrong_region_names_the_right_one() -> None:
    auth = parsed(GET_OBJECT, TIME)

    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        verify(GET_OBJECT, auth, SECRET_KEY, region="eu-west-1")

    assert caught.value.message == (
        "The authorization header is malformed; the region 'us-east-1' is wrong;"
        " expecting 'eu-west-1'"
    )
    assert (caught.value.status, caught.value.region) == (400, "eu-west-1")


def test_wrong_region_of_a_presigned_url() -> None:
    auth = parsed(PRESIGNED_GET, TIME)

    with pytest.raises(AuthorizationQueryParametersError) as caught:
        verify(PRESIGNED_GET, auth, SECRET_KEY, region="eu-west-1")

    assert caught.value.message == (
        "Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong;"
        " expecting 'eu-west-1'"
    )


def test_wrong_service() -> None:
    auth = parsed(GET_OBJECT, TIME)

    with pytest.raises(AuthorizationHeaderMalformed, match='incorrect service "s3"'):
        verify(GET_OBJECT, auth, SECRET_KEY, region=REGION, service="sqs")


# --- what parse() refuses ------------------------------------------------------------


def test_anonymous_request_has_no_authorization() -> None:
    request = SignedRequest("GET", b"/bucket/key", b"versionId=1", [("host", HOST)])

    assert parse(request, TIME) is None


def test_header_and_query_auth_together_are_refused() -> None:
    both = dataclasses.replace(GET_OBJECT, query=PRESIGNED_QUERY)

    with pytest.raises(InvalidArgument, match=r"^Only one auth mechanism allowed"):
        parse(both, TIME)


def authorized(value: str, *headers: tuple[str, str]) -> SignedRequest:
    base = [("host", HOST), ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", TIMESTAMP)]
    return SignedRequest("GET", b"/", b"", [*base, *headers, ("authorization", value)])


GOOD_FIELDS = (
    f"Credential={CREDENTIAL}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
    f"Signature={'0' * 64}"
)
HEADER_ERRORS = {
    "signature version 2": (
        "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
        UnsupportedAuthorization,
        "Please use AWS4-HMAC-SHA256",
    ),
    "another scheme": ("Bearer abc", InvalidArgument, "^Unsupported Authorization Type$"),
    "signature version 4A": (
        f"AWS4-ECDSA-P256-SHA256 {GOOD_FIELDS}",
        NotImplementedFeature,
        "not implemented",
    ),
    "no fields": ("AWS4-HMAC-SHA256", AuthorizationHeaderMalformed, "three components"),
    "a field missing": (
        f"AWS4-HMAC-SHA256 Credential={CREDENTIAL}, Signature={'0' * 64}",
        AuthorizationHeaderMalformed,
        "three components",
    ),
    "a field repeated": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS}, Signature={'1' * 64}",
        AuthorizationHeaderMalformed,
        "three components",
    ),
    "a credential too short": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace(CREDENTIAL, 'AKID/20130524/us-east-1/s3')}",
        AuthorizationHeaderMalformed,
        "the Credential is mal-formed",
    ),
    "a wrong terminal": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace('aws4_request', 'aws5_request')}",
        AuthorizationHeaderMalformed,
        'incorrect terminal "aws5_request"',
    ),
    "a credential date unlike the request's": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace('20130524', '20130525')}",
        AuthorizationHeaderMalformed,
        "Date is not the same as X-Amz-Date",
    ),
    "host not signed": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace('host;', '')}",
        AuthorizationHeaderMalformed,
        "must include host",
    ),
    "a signed header in upper case": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace('host;', 'Host;')}",
        AuthorizationHeaderMalformed,
        "SignedHeaders must be distinct lower-case header names",
    ),
    "a signature not in hex": (
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace('0' * 64, 'z' * 64)}",
        AuthorizationHeaderMalformed,
        "64 hexadecimal characters",
    ),
}


@pytest.mark.parametrize(("value", "error", "message"), HEADER_ERRORS.values(), ids=HEADER_ERRORS)
def test_malformed_authorization_headers(value: str, error: type[ChuteError], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        parse(authorized(value), TIME)
    assert caught.value.status in (400, 501)


def test_header_auth_needs_a_date() -> None:
    request = SignedRequest(
        "GET",
        b"/",
        b"",
        [
            ("host", HOST),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("authorization", f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace(';x-amz-date', '')}"),
        ],
    )

    with pytest.raises(AccessDenied, match="requires a valid Date or x-amz-date header"):
        parse(request, TIME)


def test_s3_header_auth_needs_the_payload_hash() -> None:
    request = SignedRequest(
        "GET",
        b"/",
        b"",
        [
            ("host", HOST),
            ("x-amz-date", TIMESTAMP),
            (
                "authorization",
                f"AWS4-HMAC-SHA256 {GOOD_FIELDS.replace(';x-amz-content-sha256', '')}",
            ),
        ],
    )

    with pytest.raises(MissingContentSHA256) as caught:
        parse(request, TIME)
    assert caught.value.message == "Missing required header for this request: x-amz-content-sha256"
    assert (caught.value.status, caught.value.code) == (400, "InvalidRequest")


def test_payload_hash_must_be_one_s3_knows() -> None:
    request = replace_header(
        authorized(f"AWS4-HMAC-SHA256 {GOOD_FIELDS}"), "x-amz-content-sha256", "abc"
    )

    with pytest.raises(InvalidArgument, match=r"^x-amz-content-sha256 must be UNSIGNED-PAYLOAD"):
        parse(request, TIME)


def test_unsigned_amz_headers_are_refused() -> None:
    request = authorized(
        f"AWS4-HMAC-SHA256 {GOOD_FIELDS}", ("x-amz-acl", "public-read"), ("x-amz-meta-a", "1")
    )

    with pytest.raises(HeadersNotSigned) as caught:
        parse(request, TIME)
    assert caught.value.headers == ["x-amz-acl", "x-amz-meta-a"]
    assert caught.value.message == "There were headers present in the request which were not signed"
    assert (caught.value.status, caught.value.code) == (403, "AccessDenied")


def presigned(**changes: str | None) -> SignedRequest:
    params: dict[str, str | None] = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": CREDENTIAL.replace("/", "%2F"),
        "X-Amz-Date": TIMESTAMP,
        "X-Amz-Expires": "86400",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "0" * 64,
    }
    params.update(changes)
    query = "&".join(f"{name}={value}" for name, value in params.items() if value is not None)
    return SignedRequest("GET", b"/test.txt", query.encode(), [("host", HOST)])


QUERY_ERRORS: dict[str, tuple[dict[str, str | None], type[ChuteError], str]] = {
    "a parameter missing": (
        {"X-Amz-SignedHeaders": None},
        AuthorizationQueryParametersError,
        "requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date,",
    ),
    "another algorithm": (
        {"X-Amz-Algorithm": "AWS4-HMAC-SHA512"},
        AuthorizationQueryParametersError,
        'only supports "AWS4-HMAC-SHA256"',
    ),
    "signature version 4A": (
        {"X-Amz-Algorithm": "AWS4-ECDSA-P256-SHA256"},
        NotImplementedFeature,
        "not implemented",
    ),
    "more than a week": (
        {"X-Amz-Expires": "604801"},
        AuthorizationQueryParametersError,
        r"^X-Amz-Expires must be less than a week \(in seconds\) that is; 604800$",
    ),
    "negative expiry": (
        {"X-Amz-Expires": "-1"},
        AuthorizationQueryParametersError,
        "must be non-negative",
    ),
    "zero expiry": ({"X-Amz-Expires": "0"}, AuthorizationQueryParametersError, "at least 1"),
    "expiry not a number": (
        {"X-Amz-Expires": "1e3"},
        AuthorizationQueryParametersError,
        "should be a number",
    ),
    "a bad date": (
        {"X-Amz-Date": "2013-05-24T00:00:00Z"},
        AuthorizationQueryParametersError,
        "ISO8601 Long Format",
    ),
    "a bad credential": (
        {"X-Amz-Credential": "AKID"},
        AuthorizationQueryParametersError,
        "^Error parsing the X-Amz-Credential parameter; the Credential is mal-formed",
    ),
    "host not signed": (
        {"X-Amz-SignedHeaders": "x-amz-date"},
        AuthorizationQueryParametersError,
        "must include host",
    ),
    "a repeated parameter": (
        {"X-Amz-Signature": "0" * 64 + "&X-Amz-Signature=" + "1" * 64},
        AuthorizationQueryParametersError,
        "X-Amz-Signature must be given only once",
    ),
}


@pytest.mark.parametrize(("changes", "error", "message"), QUERY_ERRORS.values(), ids=QUERY_ERRORS)
def test_malformed_presigned_urls(
    changes: dict[str, str | None], error: type[ChuteError], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse(presigned(**changes), TIME)


def test_signature_version_2_presigned_url_is_refused() -> None:
    request = SignedRequest(
        "GET",
        b"/test.txt",
        b"AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybd%2FZ",
        [("host", HOST)],
    )

    with pytest.raises(UnsupportedAuthorization, match="Please use AWS4-HMAC-SHA256"):
        parse(request, TIME)


# --- payload hashes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (EMPTY_SHA256, PayloadKind.SIGNED_HEX),
        (EMPTY_SHA256.upper(), PayloadKind.SIGNED_HEX),
        ("UNSIGNED-PAYLOAD", PayloadKind.UNSIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadKind.STREAMING_SIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadKind.STREAMING_SIGNED_TRAILER),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadKind.STREAMING_UNSIGNED_TRAILER),
    ],
)
def test_payload_kinds(value: str, kind: PayloadKind) -> None:
    assert payload_kind(value) is kind


def test_payload_kind_properties() -> None:
    assert [k for k in PayloadKind if k.chunked] == [
        PayloadKind.STREAMING_SIGNED,
        PayloadKind.STREAMING_SIGNED_TRAILER,
        PayloadKind.STREAMING_UNSIGNED_TRAILER,
    ]
    assert [k for k in PayloadKind if k.signed_chunks] == [
        PayloadKind.STREAMING_SIGNED,
        PayloadKind.STREAMING_SIGNED_TRAILER,
    ]
    assert [k for k in PayloadKind if k.has_trailer] == [
        PayloadKind.STREAMING_SIGNED_TRAILER,
        PayloadKind.STREAMING_UNSIGNED_TRAILER,
    ]


@pytest.mark.parametrize(
    "value",
    [
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    ],
)
def test_ecdsa_payloads_are_not_implemented(value: str) -> None:
    with pytest.raises(NotImplementedFeature) as caught:
        payload_kind(value)
    assert (caught.value.status, caught.value.code) == (501, "NotImplemented")


@pytest.mark.parametrize("value", ["", "e3b0", "unsigned-payload", "STREAMING-PAYLOAD", "z" * 64])
def test_unknown_payload_hashes(value: str) -> None:
    with pytest.raises(InvalidArgument):
        payload_kind(value)


def test_body_sha256_is_compared_only_when_stated() -> None:
    auth = parsed(put_object(b"/test%24file.text"), TIME)
    auth.check_content_sha256(WELCOME_SHA256)

    with pytest.raises(XAmzContentSHA256Mismatch) as caught:
        auth.check_content_sha256(EMPTY_SHA256)

    assert (caught.value.client_sha256, caught.value.computed_sha256) == (
        WELCOME_SHA256,
        EMPTY_SHA256,
    )
    assert (caught.value.status, caught.value.code) == (400, "XAmzContentSHA256Mismatch")
    presigned_auth = parsed(PRESIGNED_GET, TIME)
    presigned_auth.check_content_sha256(EMPTY_SHA256)


# --- ASGI ----------------------------------------------------------------------------


def test_request_from_an_asgi_scope() -> None:
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/bucket/a b",
        "raw_path": b"/bucket/a%20b",
        "query_string": b"uploadId=1&partNumber=2",
        "headers": [(b"Host", b"localhost:9000"), (b"X-Amz-Meta-Name", b"caf\xe9")],
    }

    request = SignedRequest.from_scope(scope)

    assert request == SignedRequest(
        "PUT",
        b"/bucket/a%20b",
        b"uploadId=1&partNumber=2",
        [("host", "localhost:9000"), ("x-amz-meta-name", "café")],
    )
    assert request.header("host") == "localhost:9000"
    assert request.header("range") is None


def test_scope_without_raw_path_encodes_the_path() -> None:
    scope = {"method": "GET", "path": "/bucket/a b/ü", "headers": []}

    assert SignedRequest.from_scope(scope).raw_path == b"/bucket/a%20b/%C3%BC"
