"""Reading a function's policy as S3's invocations need it: who, which action, and the
statement's conditions on the source bucket and account."""

from __future__ import annotations

from typing import Any

import pytest

from chute.functions.registry import allows_service, statement

S3 = "s3.amazonaws.com"
BUCKET = "arn:aws:s3:::photos"


@pytest.mark.parametrize(
    ("made", "allowed"),
    [
        (statement("a", "lambda:InvokeFunction", S3, BUCKET, None), True),
        (statement("a", "lambda:InvokeFunction", S3, None, None), True),
        (statement("a", "lambda:*", S3, "arn:aws:s3:::pho*", None), True),
        (statement("a", "lambda:Invoke*", S3, "arn:aws:s3:::photo?", None), True),
        (statement("a", "*", "*", None, None), True),  # Principal "*" is stored as AWS "*"
        (statement("a", "lambda:InvokeFunction", S3, "arn:aws:s3:::other", None), False),
        (statement("a", "lambda:GetFunction", S3, BUCKET, None), False),
        (statement("a", "lambda:InvokeFunction", "sns.amazonaws.com", BUCKET, None), False),
        (statement("a", "lambda:InvokeFunction", "123456789012", BUCKET, None), False),
        (statement("a", "lambda:InvokeFunction", S3, BUCKET, "000000000000"), True),
        (statement("a", "lambda:InvokeFunction", S3, BUCKET, "999999999999"), False),
        (statement("a", "lambda:InvokeFunction", S3, "arn:aws:s3:::[p]hotos", None), False),
    ],
)
def test_a_statement_lets_s3_invoke_for_its_bucket(made: dict[str, Any], allowed: bool) -> None:
    assert allows_service([made], S3, BUCKET) is allowed


def test_lists_of_principals_and_actions_and_denials() -> None:
    listed = {
        "Effect": "Allow",
        "Principal": {"Service": ["sns.amazonaws.com", S3]},
        "Action": ["lambda:GetFunction", "lambda:InvokeFunction"],
    }
    assert allows_service([listed], S3, BUCKET)
    assert not allows_service([{**listed, "Effect": "Deny"}], S3, BUCKET)
    assert not allows_service([], S3, BUCKET)
