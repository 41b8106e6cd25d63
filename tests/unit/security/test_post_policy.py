"""POST policies of browser uploads: AWS's worked example, botocore's presigned posts,
and each rule of the policy language."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chute.errors import (
    InvalidArgument,
    InvalidPolicyDocument,
    PolicyViolation,
    PostSignatureMismatch,
)
from chute.security.post_policy import (
    Credential,
    Policy,
    SignedForm,
    form_values,
    sign,
    sign_v2,
)

# "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)", in the
# S3 API reference: the example credentials, the policy with CRLF line ends, and the
# base64 policy and signature the page states.
AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_POLICY_JSON = "\r\n".join(
    [
        '{ "expiration": "2015-12-30T12:00:00.000Z",',
        '  "conditions": [',
        '    {"bucket": "sigv4examplebucket"},',
        '    ["starts-with", "$key", "user/user1/"],',
        '    {"acl": "public-read"},',
        '    {"success_action_redirect": '
        '"http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},',
        '    ["starts-with", "$Content-Type", "image/"],',
        '    {"x-amz-meta-uuid": "14365123651274"},',
        '    {"x-amz-server-side-encryption": "AES256"},',
        '    ["starts-with", "$x-amz-meta-tag", ""],',
        "",
        '    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},',
        '    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},',
        '    {"x-amz-date": "20151229T000000Z" }',
        "  ]",
        "}",
    ]
)
AWS_POLICY = (
    "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAg"
    "ICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAi"
    "dXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25f"
    "cmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxf"
    "dXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQog"
    "ICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRl"
    "LWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAi"
    "Il0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMt"
    "ZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEy"
    "NTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
)
AWS_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
#: The example's form, as a browser sends it (field names in the page's own case).
AWS_FORM = [
    ("key", "user/user1/photo.jpg"),
    ("acl", "public-read"),
    (
        "success_action_redirect",
        "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
    ),
    ("Content-Type", "image/jpeg"),
    ("x-amz-meta-uuid", "14365123651274"),
    ("x-amz-server-side-encryption", "AES256"),
    ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Date", "20151229T000000Z"),
    ("x-amz-meta-tag", ""),
    ("Policy", AWS_POLICY),
    ("X-Amz-Signature", AWS_SIGNATURE),
]
SIGNED_AT = datetime(2015, 12, 29, tzinfo=UTC)


def encoded(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def policy_of(*conditions: Any, expiration: str = "2030-01-01T00:00:00Z") -> Policy:
    return Policy.decode(encoded({"expiration": expiration, "conditions": list(conditions)}))


def refusal(policy: Policy, fields: list[tuple[str, str]], bucket: str = "b") -> str:
    with pytest.raises(PolicyViolation) as err:
        policy.check(fields, bucket, SIGNED_AT)
    assert err.value.code == "AccessDenied"
    assert err.value.status == 403
    return err.value.message


# --- AWS's example ---------------------------------------------------------------------


def test_aws_example_policy_and_signature() -> None:
    assert base64.b64encode(AWS_POLICY_JSON.encode()).decode() == AWS_POLICY
    credential = Credential.parse(f"{AWS_ACCESS_KEY}/20151229/us-east-1/s3/aws4_request")
    assert sign(AWS_POLICY, AWS_SECRET, credential) == AWS_SIGNATURE


def test_aws_example_form_is_signed_and_meets_its_policy() -> None:
    signed = SignedForm.of(form_values(AWS_FORM))
    assert signed is not None
    assert signed.credential == Credential(AWS_ACCESS_KEY, "20151229", "us-east-1", "s3")
    signed.check_scope("us-east-1")
    signed.verify(AWS_SECRET)
    policy = Policy.decode(signed.policy)
    assert policy.expiration == datetime(2015, 12, 30, 12, tzinfo=UTC)
    policy.check(AWS_FORM, "sigv4examplebucket", SIGNED_AT)


def test_aws_example_expires_at_its_expiration() -> None:
    policy = Policy.decode(AWS_POLICY)
    policy.check(AWS_FORM, "sigv4examplebucket", policy.expiration - timedelta(seconds=1))
    with pytest.raises(PolicyViolation, match=r"Invalid according to Policy: Policy expired\."):
        policy.check(AWS_FORM, "sigv4examplebucket", policy.expiration)


def test_aws_example_refuses_another_bucket_and_key() -> None:
    policy = Policy.decode(AWS_POLICY)
    assert refusal(policy, AWS_FORM, "otherbucket") == (
        'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", '
        '"sigv4examplebucket"]'
    )
    outside = [("key", "user/user2/photo.jpg"), *AWS_FORM[1:]]
    assert refusal(policy, outside, "sigv4examplebucket").endswith(
        'Policy Condition failed: ["starts-with", "$key", "user/user1/"]'
    )


def test_a_tampered_policy_or_wrong_secret_does_not_verify() -> None:
    tampered = dict(form_values(AWS_FORM))
    tampered["policy"] = AWS_POLICY[:-4] + "fQ=="
    signed = SignedForm.of(tampered)
    assert signed is not None
    with pytest.raises(PostSignatureMismatch) as err:
        signed.verify(AWS_SECRET)
    assert err.value.status == 403
    assert err.value.code == "SignatureDoesNotMatch"
    assert err.value.details["StringToSign"] == tampered["policy"]
    assert err.value.details["SignatureProvided"] == AWS_SIGNATURE
    assert err.value.details["AWSAccessKeyId"] == AWS_ACCESS_KEY
    original = SignedForm.of(form_values(AWS_FORM))
    assert original is not None
    with pytest.raises(PostSignatureMismatch):
        original.verify(AWS_SECRET + "x")


# --- botocore's presigned posts ----------------------------------------------------------


@pytest.mark.parametrize("signature_version", [None, "s3v4"])
def test_botocore_presigned_post_verifies_and_meets_its_policy(
    signature_version: str | None,
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="chute-key",
        aws_secret_access_key="chute-secret",
        config=Config(signature_version=signature_version),
    )
    post = client.generate_presigned_post(
        "photos",
        "uploads/${filename}",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}, ["content-length-range", 1, 1000]],
    )
    fields = list(post["fields"].items())
    signed = SignedForm.of(form_values(fields))
    assert signed is not None
    # boto3 signs POST forms with Signature Version 2 unless told otherwise.
    assert (signed.credential is None) == (signature_version is None)
    assert signed.access_key == "chute-key"
    signed.verify("chute-secret")
    with pytest.raises(PostSignatureMismatch):
        signed.verify("another-secret")
    policy = Policy.decode(signed.policy)
    assert policy.size_range == (1, 1000)
    expanded = [(n, v.replace("${filename}", "cat.jpg")) for n, v in fields]
    policy.check(expanded, "photos", datetime.now(UTC), signed.exempt)
    with pytest.raises(PolicyViolation, match="Policy expired"):
        policy.check(expanded, "photos", datetime.now(UTC) + timedelta(hours=2), signed.exempt)


def test_signature_version_2() -> None:
    policy = encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": "k"}]})
    fields = [
        ("key", "k"),
        ("AWSAccessKeyId", "AKID"),
        ("policy", policy),
        ("signature", sign_v2(policy, "secret")),
    ]
    signed = SignedForm.of(form_values(fields))
    assert signed == SignedForm(policy, "AKID", sign_v2(policy, "secret"))
    signed.check_scope("any-region")
    signed.verify("secret")
    Policy.decode(policy).check(fields, "b", SIGNED_AT, signed.exempt)
    # A Signature Version 4 form must name its key in a condition like any field.
    assert "AWSAccessKeyId" in refusal(Policy.decode(policy), fields)


# --- the signing fields --------------------------------------------------------------


def test_a_form_without_signing_fields_is_anonymous() -> None:
    assert SignedForm.of({"key": "k", "policy": "e30="}) is None


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("x-amz-algorithm", "X-Amz-Algorithm"),
        ("x-amz-credential", "X-Amz-Credential"),
        ("x-amz-date", "X-Amz-Date"),
        ("x-amz-signature", "X-Amz-Signature"),
        ("policy", "Policy"),
    ],
)
def test_a_missing_signing_field_is_named(missing: str, named: str) -> None:
    fields = form_values(AWS_FORM)
    del fields[missing]
    with pytest.raises(InvalidArgument) as err:
        SignedForm.of(fields)
    assert err.value.message == (
        f"Bucket POST must contain a field named '{named}'.  If it is specified, please "
        "check the order of the fields."
    )
    assert err.value.details == {"ArgumentName": named, "ArgumentValue": ""}


def test_signature_version_2_fields_are_required_together() -> None:
    with pytest.raises(InvalidArgument) as err:
        SignedForm.of({"awsaccesskeyid": "AKID", "policy": "e30="})
    assert err.value.details == {"ArgumentName": "Signature", "ArgumentValue": ""}


@pytest.mark.parametrize(
    ("field", "value", "argument"),
    [
        ("x-amz-algorithm", "AWS4-HMAC-SHA1", "X-Amz-Algorithm"),
        ("x-amz-date", "2015-12-29", "X-Amz-Date"),
        ("x-amz-credential", "AKIA/20151229/us-east-1/s3", "X-Amz-Credential"),
        ("x-amz-credential", "AKIA/2015-12-29/us-east-1/s3/aws4_request", "X-Amz-Credential"),
        ("x-amz-credential", "/20151229/us-east-1/s3/aws4_request", "X-Amz-Credential"),
    ],
)
def test_malformed_signing_fields(field: str, value: str, argument: str) -> None:
    fields = form_values(AWS_FORM)
    fields[field] = value
    with pytest.raises(InvalidArgument) as err:
        SignedForm.of(fields)
    assert err.value.details["ArgumentName"] == argument
    assert err.value.details["ArgumentValue"] == value


def test_a_credential_for_another_region_names_this_one() -> None:
    signed = SignedForm.of(form_values(AWS_FORM))
    assert signed is not None
    with pytest.raises(InvalidArgument) as err:
        signed.check_scope("eu-west-1")
    assert err.value.message == "the region 'us-east-1' is wrong; expecting 'eu-west-1'"
    assert err.value.details["Region"] == "eu-west-1"


# --- conditions ----------------------------------------------------------------------


def test_exact_and_prefix_matches_with_names_in_any_case() -> None:
    policy = policy_of(
        {"Bucket": "b"},
        ["EQ", "$ACL", "private"],
        ["StArTs-WiTh", "$KeY", "foo/"],
        ["starts-with", "$x-amz-meta-tag", ""],
    )
    policy.check([("kEy", "foo/bar"), ("aCl", "private"), ("X-Amz-Meta-Tag", "")], "b", SIGNED_AT)
    assert "$ACL" in refusal(
        policy, [("key", "foo/bar"), ("acl", "Private"), ("x-amz-meta-tag", "")]
    )


def test_a_condition_on_an_absent_field_fails_even_an_empty_prefix() -> None:
    policy = policy_of(["starts-with", "$Content-Type", ""], {"key": "k"})
    assert refusal(policy, [("key", "k")]).endswith(
        'Policy Condition failed: ["starts-with", "$Content-Type", ""]'
    )


def test_a_field_named_without_dollar_never_matches() -> None:
    policy = policy_of(["eq", "key", "k"], {"key": "k"})
    assert '["eq", "key", "k"]' in refusal(policy, [("key", "k")])


def test_content_type_lists_must_each_start_with_the_prefix() -> None:
    policy = policy_of(["starts-with", "$Content-Type", "image/"], ["starts-with", "$key", ""])
    policy.check([("key", "k"), ("Content-Type", "image/jpg, image/png")], "b", SIGNED_AT)
    refusal(policy, [("key", "k"), ("Content-Type", "image/jpg,text/plain")])
    other = policy_of(["starts-with", "$x-amz-meta-list", "a"])
    other.check([("x-amz-meta-list", "a,b")], "b", SIGNED_AT)


def test_repeated_fields_are_joined_with_commas() -> None:
    policy = policy_of({"x-amz-meta-tag": "Ninja,Stallman"})
    policy.check([("x-amz-meta-tag", "Ninja"), ("x-amz-meta-tag", "Stallman")], "b", SIGNED_AT)


def test_every_field_needs_a_condition_but_the_exempt_ones() -> None:
    policy = policy_of({"key": "k"})
    policy.check(
        [("key", "k"), ("Policy", "p"), ("X-Amz-Signature", "s"), ("x-ignore-me", "1")],
        "b",
        SIGNED_AT,
    )
    message = refusal(
        policy, [("key", "k"), ("StorageClass", "x"), ("Submit", "1"), ("submit", "2")]
    )
    assert message == "Invalid according to Policy: Extra input fields: StorageClass, Submit"


def test_size_ranges() -> None:
    policy = policy_of(["content-length-range", 5, 10], ["content-length-range", "0", "8"])
    assert policy.size_range == (5, 8)
    assert policy_of({"key": "k"}).size_range is None


def test_a_size_bound_that_is_no_number_fails_the_condition() -> None:
    policy = policy_of(["content-length-range", "test", "10"], {"key": "k"})
    assert refusal(policy, [("key", "k")]).endswith(
        'Policy Condition failed: ["content-length-range", "test", "10"]'
    )


def test_fractional_expiration_is_kept() -> None:
    policy = policy_of(expiration="2030-01-01T00:00:00.250Z")
    assert policy.expiration == datetime(2030, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)


# --- malformed policies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not base64!", "invalid Base64 encoding."),
        (base64.b64encode(b"{not json").decode(), "Invalid JSON."),
        (encoded([1, 2]), "Invalid JSON."),
        (encoded({"conditions": []}), "Policy missing expiration."),
        (encoded({"expiration": "2030-01-01T00:00:00Z"}), "Policy missing conditions."),
        (
            encoded({"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}),
            "Unexpected: 'expiration'",
        ),
        (
            encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": {}}),
            "Invalid 'conditions' value: must be a List.",
        ),
        (
            encoded({"expiration": "2030-01-01T00:00:00+02:00", "conditions": []}),
            "Invalid 'expiration' value: '2030-01-01T00:00:00+02:00'",
        ),
        (
            encoded({"expiration": "2030-01-01 00:00:00Z", "conditions": []}),
            "Invalid 'expiration' value: '2030-01-01 00:00:00Z'",
        ),
        (
            encoded({"expiration": "2030-02-30T00:00:00Z", "conditions": []}),
            "Invalid 'expiration' value: '2030-02-30T00:00:00Z'",
        ),
    ],
)
def test_malformed_documents(text: str, reason: str) -> None:
    with pytest.raises(InvalidPolicyDocument) as err:
        Policy.decode(text)
    assert err.value.message == f"Invalid Policy: {reason}"
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (
            {},
            "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
        ),
        ({"a": "1", "b": "2"}, "Invalid Simple-Condition: Simple-Conditions must have exactly one"),
        ({"Content-Length": 6199034}, "Invalid Simple-Condition: value must be a string."),
        ("acl", "Invalid condition test: must be a List or Object."),
        ([], "Invalid Condition: missing operation identifier."),
        (["matches", "$key", "k"], "Invalid Condition: unknown operation 'matches'."),
        (["eq", "$key"], "Invalid eq: wrong number of arguments."),
        (["content-length-range", 0], "Invalid content-length-range: wrong number of arguments."),
        (["eq", "$key", 1], "Invalid JSON."),
        (["content-length-range", 0, 512.0], "Invalid JSON."),
        (
            ["content-length-range", -1, 0],
            "Invalid content-length-range: bounds cannot be negative.",
        ),
    ],
)
def test_malformed_conditions(condition: Any, reason: str) -> None:
    with pytest.raises(InvalidPolicyDocument) as err:
        policy_of(condition)
    assert err.value.message.startswith(f"Invalid Policy: {reason}")
