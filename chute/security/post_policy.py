"""Browser uploads (S3's POST Object): the signed POST policy a form carries.

A form authorised by a policy holds the base64 policy document, its SigV4 signature, and
the credential and time it was signed with. The signature is the hex HMAC-SHA256 of the
policy *as sent* (the base64 text, not the JSON) under the SigV4 signing key of the
credential's date, region and service, so it is checked before the policy is decoded.
The policy then states when it expires and the conditions every form field must meet;
each field but a few (:data:`UNCOVERED`, ``x-ignore-*``) must be named by a condition.

Forms signed with Signature Version 2 (an ``AWSAccessKeyId`` and a base64 HMAC-SHA1 of
the policy), which boto3 sends by default, are checked too.

Field and condition names are compared without regard to case, values with it, as S3
does. Standard library only: the front end reads the form and looks up the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from chute.errors import (
    InvalidArgument,
    InvalidPolicyDocument,
    PolicyViolation,
    PostSignatureMismatch,
)
from chute.security.sigv4 import ALGORITHM, derive_key

SERVICE: Final = "s3"
TERMINAL: Final = "aws4_request"
#: Form fields no condition has to name (besides those starting with ``x-ignore-``).
UNCOVERED: Final = frozenset({"x-amz-signature", "file", "policy"})
UNCOVERED_V2: Final = frozenset({"awsaccesskeyid", "signature", "file", "policy"})
IGNORED_PREFIX: Final = "x-ignore-"
#: The fields that sign a form, as S3 names them when one is missing.
SIGNING_FIELDS: Final = (
    ("x-amz-algorithm", "X-Amz-Algorithm"),
    ("x-amz-credential", "X-Amz-Credential"),
    ("x-amz-date", "X-Amz-Date"),
    ("x-amz-signature", "X-Amz-Signature"),
    ("policy", "Policy"),
)
#: The same for Signature Version 2.
V2_KEY_FIELD: Final = "awsaccesskeyid"
SIGNING_FIELDS_V2: Final = (
    (V2_KEY_FIELD, "AWSAccessKeyId"),
    ("signature", "Signature"),
    ("policy", "Policy"),
)
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_EXPIRATION = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?Z")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


# --- the signature -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    """``<access key>/<YYYYMMDD>/<region>/<service>/aws4_request``, as a form sends it."""

    access_key: str
    date: str
    region: str
    service: str = SERVICE

    @classmethod
    def parse(cls, value: str) -> Credential:
        parts = value.split("/")
        if len(parts) != 5 or parts[4] != TERMINAL or not re.fullmatch(r"[0-9]{8}", parts[1]):
            raise _argument(
                'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
                'aws4_request".',
                "X-Amz-Credential",
                value,
            )
        if not parts[0]:
            raise _argument(
                "a non-empty Access Key (AKID) must be provided in the credential.",
                "X-Amz-Credential",
                value,
            )
        return cls(parts[0], parts[1], parts[2], parts[3])

    def __str__(self) -> str:
        return f"{self.access_key}/{self.date}/{self.region}/{self.service}/{TERMINAL}"


def sign(policy: str, secret: str, credential: Credential) -> str:
    """The hex signature of ``policy`` (the base64 text) under ``credential``'s scope."""
    key = derive_key(secret, credential.date, credential.region, credential.service)
    return hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()


def sign_v2(policy: str, secret: str) -> str:
    """The Signature Version 2 signature of ``policy``: base64 HMAC-SHA1."""
    digest = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class SignedForm:
    """What signs a form: its policy as sent (the string to sign), the access key and the
    signature; for Signature Version 4, the credential and the signing time.

    Signature Version 2 (``AWSAccessKeyId`` and ``signature``: base64 HMAC-SHA1 under the
    secret itself) is what boto3's ``generate_presigned_post`` sends unless the client
    is configured for ``s3v4``, and S3 still takes it in POST forms, so Chute does too.
    """

    policy: str
    access_key: str
    signature: str
    #: ``None``: Signature Version 2.
    credential: Credential | None = None
    amz_date: str | None = None

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> SignedForm | None:
        """The signature of a form (``fields`` by lower-case name); ``None`` when it has
        none of the signing fields, that is when the upload is anonymous. A form with
        some but not all of them is refused, naming the first missing one."""
        if any(name in fields for name, _ in SIGNING_FIELDS if name != "policy"):
            return cls._v4(fields)
        if V2_KEY_FIELD in fields:
            _require(fields, SIGNING_FIELDS_V2)
            return cls(fields["policy"], fields[V2_KEY_FIELD], fields["signature"])
        return None

    @classmethod
    def _v4(cls, fields: Mapping[str, str]) -> SignedForm:
        _require(fields, SIGNING_FIELDS)
        if fields["x-amz-algorithm"] != ALGORITHM:
            raise _argument(
                f"the {fields['x-amz-algorithm']!r} algorithm is not supported; use {ALGORITHM}",
                "X-Amz-Algorithm",
                fields["x-amz-algorithm"],
            )
        amz_date = fields["x-amz-date"]
        if not _AMZ_DATE.fullmatch(amz_date):
            raise _argument(
                "X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date", amz_date
            )
        credential = Credential.parse(fields["x-amz-credential"])
        return cls(
            fields["policy"], credential.access_key, fields["x-amz-signature"], credential, amz_date
        )

    @property
    def exempt(self) -> frozenset[str]:
        """The fields of this form no condition has to name."""
        return UNCOVERED if self.credential is not None else UNCOVERED_V2

    def check_scope(self, region: str) -> None:
        """Refuse a credential scoped to another region or service than this server's."""
        credential = self.credential
        if credential is None:
            return
        if credential.region != region:
            error = _argument(
                f"the region {credential.region!r} is wrong; expecting {region!r}",
                "X-Amz-Credential",
                str(credential),
            )
            error.details["Region"] = region
            raise error
        if credential.service != SERVICE:
            raise _argument(
                f'incorrect service "{credential.service}". This endpoint belongs to "s3".',
                "X-Amz-Credential",
                str(credential),
            )

    def verify(self, secret: str) -> None:
        """Raise ``SignatureDoesNotMatch`` unless the policy was signed with ``secret``."""
        if self.credential is None:
            valid = hmac.compare_digest(
                sign_v2(self.policy, secret).encode(), self.signature.encode()
            )
        else:
            provided = self.signature.lower()
            expected = sign(self.policy, secret, self.credential)
            valid = bool(_HEX_SIGNATURE.fullmatch(provided)) and hmac.compare_digest(
                expected, provided
            )
        if not valid:
            raise PostSignatureMismatch(self.access_key, self.policy, self.signature)


def _require(fields: Mapping[str, str], names: Sequence[tuple[str, str]]) -> None:
    for name, shown in names:
        if name not in fields:
            raise _argument(
                f"Bucket POST must contain a field named '{shown}'.  If it is specified, "
                "please check the order of the fields.",
                shown,
                "",
            )


def _argument(message: str, name: str, value: str) -> InvalidArgument:
    error = InvalidArgument(message)
    error.details = {"ArgumentName": name, "ArgumentValue": value}
    return error


# --- the policy ----------------------------------------------------------------------


class Operator(StrEnum):
    """How a condition tests a field: ``eq`` (the value as given), ``starts-with`` (the
    value begins with the operand; ``""`` allows any value, but the field must be
    there), ``content-length-range`` (the file's size, bounds included)."""

    EQ = "eq"
    STARTS_WITH = "starts-with"
    CONTENT_LENGTH_RANGE = "content-length-range"


@dataclass(frozen=True, slots=True)
class Condition:
    """One entry of a policy's ``conditions``."""

    operator: Operator
    #: The field it tests, in lower case without its ``$`` (empty for a size range, and
    #: for a field named without ``$``, which no form field can meet).
    field: str
    operand: str = ""
    minimum: int = 0
    maximum: int = 0
    #: The condition as S3 quotes it when it fails: ``["eq", "$key", "photo.jpg"]``.
    text: str = ""

    def holds(self, fields: Mapping[str, str]) -> bool:
        """Whether ``fields`` (by lower-case name) meet this condition; a size range is
        checked against the file instead (:attr:`Policy.size_range`)."""
        if self.operator is Operator.CONTENT_LENGTH_RANGE:
            return True
        value = fields.get(self.field) if self.field else None
        if value is None:
            return False
        if self.operator is Operator.EQ:
            return value == self.operand
        if self.field == "content-type":
            # A list of types must have each start so (S3's rule for Content-Type only).
            return all(part.strip().startswith(self.operand) for part in value.split(","))
        return value.startswith(self.operand)


@dataclass(frozen=True, slots=True)
class Policy:
    """A decoded POST policy."""

    expiration: datetime
    conditions: tuple[Condition, ...]

    @classmethod
    def decode(cls, policy: str) -> Policy:
        """Decode a base64 policy document; ``InvalidPolicyDocument`` for anything that
        is not one, with S3's reason."""
        try:
            raw = base64.b64decode(policy, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPolicyDocument("invalid Base64 encoding.") from None
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidPolicyDocument("Invalid JSON.") from None
        if not isinstance(document, dict):
            raise InvalidPolicyDocument("Invalid JSON.")
        for name in document:
            if name not in ("expiration", "conditions"):
                raise InvalidPolicyDocument(f"Unexpected: {name.lower()!r}")
        if "expiration" not in document:
            raise InvalidPolicyDocument("Policy missing expiration.")
        if "conditions" not in document:
            raise InvalidPolicyDocument("Policy missing conditions.")
        if not isinstance(document["conditions"], list):
            raise InvalidPolicyDocument("Invalid 'conditions' value: must be a List.")
        expiration = _expiration(document["expiration"])
        return cls(expiration, tuple(_condition(entry) for entry in document["conditions"]))

    @property
    def size_range(self) -> tuple[int, int] | None:
        """The file sizes allowed, bounds included (``None``: any); several ranges
        allow what all of them do."""
        ranges = [c for c in self.conditions if c.operator is Operator.CONTENT_LENGTH_RANGE]
        if not ranges:
            return None
        return max(c.minimum for c in ranges), min(c.maximum for c in ranges)

    def check(
        self,
        fields: Sequence[tuple[str, str]],
        bucket: str,
        now: datetime,
        exempt: frozenset[str] = UNCOVERED,
    ) -> None:
        """Refuse a form this policy does not allow: expired, a condition not met, or a
        field no condition names (but those in ``exempt`` and ``x-ignore-*``).
        ``fields`` are the form's fields before the file, as sent (``${filename}``
        already expanded); ``bucket`` is the bucket posted to, which ``bucket``
        conditions test."""
        if now >= self.expiration:
            raise PolicyViolation("Policy expired.")
        values = form_values(fields)
        values["bucket"] = bucket
        for condition in self.conditions:
            if not condition.holds(values):
                raise PolicyViolation(f"Policy Condition failed: {condition.text}")
        covered = {condition.field for condition in self.conditions}
        extra = [
            name
            for name, _ in fields
            if name.lower() not in covered
            and name.lower() not in exempt
            and not name.lower().startswith(IGNORED_PREFIX)
        ]
        if extra:
            raise PolicyViolation("Extra input fields: " + ", ".join(_unique(extra)))


def form_values(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Form fields by lower-case name; a name sent more than once has its values joined
    with commas, as S3 reads them."""
    values: dict[str, str] = {}
    for name, value in fields:
        lower = name.lower()
        values[lower] = f"{values[lower]},{value}" if lower in values else value
    return values


def _unique(names: list[str]) -> list[str]:
    """``names`` without repeats (compared without regard to case), in order."""
    seen: set[str] = set()
    kept = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            kept.append(name)
    return kept


def _expiration(value: Any) -> datetime:
    found = _EXPIRATION.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidPolicyDocument(f"Invalid 'expiration' value: '{value}'")
    try:
        moment = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidPolicyDocument(f"Invalid 'expiration' value: '{value}'") from None
    fraction = found.group(2)
    if fraction:
        moment = moment.replace(microsecond=int((fraction[1:] + "000000")[:6]))
    return moment


def _condition(entry: Any) -> Condition:
    if isinstance(entry, dict):
        return _simple_condition(entry)
    if not isinstance(entry, list):
        raise InvalidPolicyDocument("Invalid condition test: must be a List or Object.")
    if not entry or not isinstance(entry[0], str):
        raise InvalidPolicyDocument("Invalid Condition: missing operation identifier.")
    try:
        operator = Operator(entry[0].lower())
    except ValueError:
        raise InvalidPolicyDocument(f"Invalid Condition: unknown operation '{entry[0]}'.") from None
    if len(entry) != 3:
        raise InvalidPolicyDocument(f"Invalid {entry[0]}: wrong number of arguments.")
    text = json.dumps(entry, ensure_ascii=False)
    if operator is Operator.CONTENT_LENGTH_RANGE:
        return _size_range(entry[1], entry[2], text)
    name, operand = entry[1], entry[2]
    if not isinstance(name, str) or not isinstance(operand, str):
        raise InvalidPolicyDocument("Invalid JSON.")
    field = name[1:].lower() if name.startswith("$") else ""
    return Condition(operator, field, operand, text=text)


def _simple_condition(entry: dict[str, Any]) -> Condition:
    """``{"acl": "public-read"}``: ``["eq", "$acl", "public-read"]`` written short."""
    if len(entry) != 1:
        raise InvalidPolicyDocument(
            "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."
        )
    ((name, operand),) = entry.items()
    if not isinstance(operand, str):
        raise InvalidPolicyDocument("Invalid Simple-Condition: value must be a string.")
    text = json.dumps(["eq", "$" + name, operand], ensure_ascii=False)
    return Condition(Operator.EQ, name.lower(), operand, text=text)


def _size_range(low: Any, high: Any, text: str) -> Condition:
    """Bounds are whole numbers, or strings of digits (S3 accepts ``"10"``); a bound
    that is neither fails the condition, whatever the size."""
    bounds = []
    for bound in (low, high):
        if isinstance(bound, bool | float):
            raise InvalidPolicyDocument("Invalid JSON.")
        if isinstance(bound, str) and bound.isascii() and bound.isdigit():
            bound = int(bound)
        if not isinstance(bound, int):
            # Never met: its field is one no form field is named.
            return Condition(Operator.EQ, "", text=text)
        if bound < 0:
            raise InvalidPolicyDocument("Invalid content-length-range: bounds cannot be negative.")
        bounds.append(bound)
    return Condition(
        Operator.CONTENT_LENGTH_RANGE, "", minimum=bounds[0], maximum=bounds[1], text=text
    )
