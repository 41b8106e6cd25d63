"""Every exception Chute raises, under one root.

Each class's docstring is its default message. Errors that reach a client carry an
S3-style ``code`` and an HTTP ``status``, so every front end maps them the same way.
"""

from __future__ import annotations


class ChuteError(Exception):
    """Something went wrong in Chute."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.code).strip())
        #: More fields for the error document (S3's ``<Error>`` has some per code).
        self.details: dict[str, str] = {}

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- configuration -------------------------------------------------------------------


class ConfigError(ChuteError):
    """The configuration is not valid."""

    code = "InvalidConfiguration"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class MissingDependency(ChuteError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed: pip install 'chute[{extra}]'")


# --- blob store ----------------------------------------------------------------------


class BlobError(ChuteError):
    """The blob store failed."""


class BlobNotFound(BlobError):
    """The blob does not exist."""


# --- catalog -------------------------------------------------------------------------


class CatalogError(ChuteError):
    """The catalog database failed."""


# --- object service: client errors ---------------------------------------------------


class ClientError(ChuteError):
    """The request is not valid."""

    code = "InvalidRequest"
    status = 400


class InvalidBucketName(ClientError):
    """The bucket name is not valid."""

    code = "InvalidBucketName"


class InvalidKey(ClientError):
    """The object key is not valid."""

    code = "InvalidKey"


class InvalidRequest(ClientError):
    """The request is not valid."""

    code = "InvalidRequest"


class InvalidArgument(ClientError):
    """An argument is not valid."""

    code = "InvalidArgument"


class IncompleteBody(ClientError):
    """The body is shorter or longer than its Content-Length."""

    code = "IncompleteBody"


class InvalidDigest(ClientError):
    """The Content-MD5 or checksum value that you specified is not valid."""

    code = "InvalidDigest"


class BadDigest(ClientError):
    """The Content-MD5 you sent does not match what was received."""

    code = "BadDigest"


class XAmzContentSHA256Mismatch(ClientError):
    """The provided 'x-amz-content-sha256' header does not match what was computed."""

    code = "XAmzContentSHA256Mismatch"

    def __init__(self, client_sha256: str = "", computed_sha256: str = "") -> None:
        #: S3's ``ClientComputedContentSHA256`` and ``S3ComputedContentSHA256``.
        self.client_sha256 = client_sha256
        self.computed_sha256 = computed_sha256
        super().__init__()
        if client_sha256:
            self.details = {
                "ClientComputedContentSHA256": client_sha256,
                "S3ComputedContentSHA256": computed_sha256,
            }


class ClientDisconnected(ClientError):
    """The client went away before the whole body arrived."""

    code = "RequestTimeout"


class BodyTimeout(ClientError):
    """The client sent no body bytes for too long."""

    code = "RequestTimeout"
    status = 408


class MissingContentLength(ClientError):
    """You must provide the Content-Length HTTP header."""

    code = "MissingContentLength"
    status = 411


class EntityTooLarge(ClientError):
    """Your upload exceeds the maximum allowed object size."""

    code = "EntityTooLarge"
    status = 413


class InvalidRange(ClientError):
    """The requested range is not satisfiable."""

    code = "InvalidRange"
    status = 416

    def __init__(self, size: int, message: str | None = None) -> None:
        self.size = size
        super().__init__(message)


class PreconditionFailed(ClientError):
    """At least one of the preconditions you specified did not hold."""

    code = "PreconditionFailed"
    status = 412


class NotModified(ClientError):
    """The object has not changed (a conditional GET answer, not a failure)."""

    code = "NotModified"
    status = 304


class NoSuchBucket(ClientError):
    """The specified bucket does not exist."""

    code = "NoSuchBucket"
    status = 404


class NoSuchKey(ClientError):
    """The specified key does not exist."""

    code = "NoSuchKey"
    status = 404

    def __init__(self, message: str | None = None, *, delete_marker: bool = False) -> None:
        self.delete_marker = delete_marker
        super().__init__(message)


class NoSuchVersion(ClientError):
    """The specified version does not exist."""

    code = "NoSuchVersion"
    status = 404


class MethodNotAllowed(ClientError):
    """The specified method is not allowed against this resource."""

    code = "MethodNotAllowed"
    status = 405


class BucketAlreadyExists(ClientError):
    """The requested bucket name is not available."""

    code = "BucketAlreadyExists"
    status = 409


class BucketNotEmpty(ClientError):
    """The bucket you tried to delete is not empty."""

    code = "BucketNotEmpty"
    status = 409


# --- the S3 API ---------------------------------------------------------------------


class MalformedXML(ClientError):
    """The XML you provided was not well-formed or did not validate against our published
    schema."""

    code = "MalformedXML"


class NotImplementedFeature(ChuteError):
    """A header or query you provided implies functionality that is not implemented."""

    code = "NotImplemented"
    status = 501


class BucketAlreadyOwnedByYou(ClientError):
    """Your previous request to create the named bucket succeeded and you already own it."""

    code = "BucketAlreadyOwnedByYou"
    status = 409


class InvalidStorageClass(ClientError):
    """The storage class you specified is not valid."""

    code = "InvalidStorageClass"


class InvalidLocationConstraint(ClientError):
    """The specified location-constraint is not valid."""

    code = "InvalidLocationConstraint"


class MaxMessageLengthExceeded(ClientError):
    """Your request was too big."""

    code = "MaxMessageLengthExceeded"


class InvalidPartNumber(ClientError):
    """The requested partnumber is not satisfiable"""

    code = "InvalidPartNumber"
    status = 416


class InvalidBucketState(ClientError):
    """The request is not valid with the current state of the bucket."""

    code = "InvalidBucketState"
    status = 409


# --- multipart ----------------------------------------------------------------------


class NoSuchUpload(ClientError):
    """The specified multipart upload does not exist. The upload ID may be invalid, or the
    upload may have been aborted or completed."""

    code = "NoSuchUpload"
    status = 404


class InvalidPart(ClientError):
    """One or more of the specified parts could not be found. The part may not have been
    uploaded, or the specified entity tag may not match the part's entity tag."""

    code = "InvalidPart"


class InvalidPartOrder(ClientError):
    """The list of parts was not in ascending order. Parts must be ordered by part
    number."""

    code = "InvalidPartOrder"


class EntityTooSmall(ClientError):
    """Your proposed upload is smaller than the minimum allowed object size."""

    code = "EntityTooSmall"


# --- access -------------------------------------------------------------------------


class AccessDenied(ClientError):
    """Access Denied"""

    code = "AccessDenied"
    status = 403


# --- processing ----------------------------------------------------------------------


class ProcessingError(ChuteError):
    """A processing step failed."""


class Retry(ProcessingError):
    """The processor asked to be run again later."""

    def __init__(self, delay: float | None = None, reason: str | None = None) -> None:
        #: Seconds to wait before the next attempt; ``None`` uses the step's backoff.
        self.delay = delay
        super().__init__(reason or "the processor asked for a retry")


class Reject(ProcessingError):
    """The input cannot be processed: no further attempt is made, the job is dead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class UnknownProcessor(ProcessingError):
    """No processor has that name."""


class ConditionError(ProcessingError):
    """A step's ``when`` condition is not a usable JMESPath expression, or could not be
    evaluated."""


class NoSuchJob(ClientError):
    """The job does not exist."""

    code = "NoSuchJob"
    status = 404


class NoSuchPipeline(ClientError):
    """No pipeline has that name."""

    code = "NoSuchPipeline"
    status = 404


# --- authentication ------------------------------------------------------------------


class AuthError(ClientError):
    """The request could not be authenticated."""

    code = "AccessDenied"
    status = 403

    def __init__(self, message: str | None = None) -> None:
        # S3's messages are long: a docstring wrapped over lines still reads as one line.
        super().__init__(message or " ".join((type(self).__doc__ or self.code).split()))


class HeadersNotSigned(AccessDenied):
    """There were headers present in the request which were not signed"""

    def __init__(self, headers: list[str]) -> None:
        #: The ``x-amz-*`` headers sent but left out of the signature, sorted.
        self.headers = headers
        super().__init__()
        self.details = {"HeadersNotSigned": ", ".join(headers)}


class InvalidAccessKeyId(AuthError):
    """The AWS Access Key Id you provided does not exist in our records."""

    code = "InvalidAccessKeyId"


class SignatureDoesNotMatch(AuthError):
    """The request signature we calculated does not match the signature you provided.
    Check your key and signing method."""

    code = "SignatureDoesNotMatch"

    def __init__(
        self, message: str | None = None, *, string_to_sign: str = "", canonical_request: str = ""
    ) -> None:
        #: What the server signed (empty for a chunk or trailer signature): S3 returns it
        #: as ``StringToSign`` and ``CanonicalRequest``, and each in bytes.
        self.string_to_sign = string_to_sign
        self.canonical_request = canonical_request
        super().__init__(message)
        if string_to_sign:
            self.details = {
                "StringToSign": string_to_sign,
                "StringToSignBytes": string_to_sign.encode().hex(" "),
                "CanonicalRequest": canonical_request,
                "CanonicalRequestBytes": canonical_request.encode().hex(" "),
            }


class RequestTimeTooSkewed(AuthError):
    """The difference between the request time and the current time is too large."""

    code = "RequestTimeTooSkewed"


class AuthorizationHeaderMalformed(AuthError):
    """The authorization header is malformed."""

    code = "AuthorizationHeaderMalformed"
    status = 400

    def __init__(self, message: str | None = None, *, region: str | None = None) -> None:
        #: The region the server expects, when that is what was wrong: S3 sends it as
        #: ``Region``, and SDKs retry there.
        self.region = region
        super().__init__(message)
        if region is not None:
            self.details = {"Region": region}


class AuthorizationQueryParametersError(AuthError):
    """The query-string authentication parameters are not valid."""

    code = "AuthorizationQueryParametersError"
    status = 400


class UnsupportedAuthorization(AuthError):
    """The authorization mechanism you have provided is not supported. Please use
    AWS4-HMAC-SHA256."""

    code = "InvalidRequest"
    status = 400


class MissingContentSHA256(AuthError):
    """Missing required header for this request: x-amz-content-sha256"""

    code = "InvalidRequest"
    status = 400


class MalformedChunkedEncoding(ClientError):
    """The aws-chunked request body is not well formed."""

    code = "InvalidRequest"


class InvalidChunkSize(ClientError):
    """Only the last chunk is allowed to have a size less than 8192 bytes"""

    code = "InvalidChunkSizeError"


class MalformedTrailer(ClientError):
    """The trailing headers of the aws-chunked body are not well formed."""

    code = "MalformedTrailerError"


# --- browser uploads and CORS --------------------------------------------------------


class NoSuchCORSConfiguration(ClientError):
    """The CORS configuration does not exist"""

    code = "NoSuchCORSConfiguration"
    status = 404


class AccessForbidden(ClientError):
    """CORSResponse: This CORS request is not allowed."""

    code = "AccessForbidden"
    status = 403


class MissingOrigin(ClientError):
    """Insufficient information. Origin request header needed."""

    code = "BadRequest"


class MalformedPOSTRequest(ClientError):
    """The body of your POST request is not well-formed multipart/form-data."""

    code = "MalformedPOSTRequest"


class MaxPostPreDataLengthExceeded(ClientError):
    """Your POST request fields preceeding the upload file was too large."""

    code = "MaxPostPreDataLengthExceeded"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.details = {"MaxPostPreDataLengthBytes": str(limit)}


class InvalidPolicyDocument(ClientError):
    """Invalid Policy: Invalid JSON."""

    code = "InvalidPolicyDocument"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(f"Invalid Policy: {reason}" if reason else None)


class PolicyViolation(AccessDenied):
    """Invalid according to Policy"""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid according to Policy: {reason}")


class PostAccessKeyUnknown(InvalidAccessKeyId):
    """The AWS Access Key Id you provided does not exist in our records."""

    def __init__(self, access_key: str) -> None:
        super().__init__()
        self.details = {"AWSAccessKeyId": access_key}


class PostSignatureMismatch(SignatureDoesNotMatch):
    """The request signature we calculated does not match the signature you provided.
    Check your key and signing method."""

    def __init__(self, access_key: str, string_to_sign: str, signature: str) -> None:
        super().__init__()
        self.string_to_sign = string_to_sign
        # A browser upload signs its policy, not a canonical request: S3 answers with
        # the key, the policy as the string to sign, and the signature sent.
        self.details = {
            "AWSAccessKeyId": access_key,
            "StringToSign": string_to_sign,
            "SignatureProvided": signature,
            "StringToSignBytes": string_to_sign.encode().hex(" "),
        }


class UploadTooSmall(EntityTooSmall):
    """Your proposed upload is smaller than the minimum allowed size"""

    def __init__(self, size: int, minimum: int) -> None:
        super().__init__()
        self.details = {"ProposedSize": str(size), "MinSizeAllowed": str(minimum)}


class UploadTooLarge(EntityTooLarge):
    """Your proposed upload exceeds the maximum allowed size"""

    status = 400  # S3's status for a browser upload past its policy's range

    def __init__(self, size: int, maximum: int) -> None:
        super().__init__()
        self.details = {"ProposedSize": str(size), "MaxSizeAllowed": str(maximum)}


# --- bucket notifications ------------------------------------------------------------


class InvalidNotificationConfiguration(InvalidArgument):
    """The notification configuration is not valid."""

    def __init__(self, message: str | None = None, argument: tuple[str, str] | None = None) -> None:
        # S3's messages are long: the docstring's line breaks are not part of them.
        super().__init__(message or " ".join((self.__doc__ or "").split()))
        if argument is not None:
            # S3 names the offending element and value beside its message.
            self.details["ArgumentName"], self.details["ArgumentValue"] = argument


class OverlappingNotifications(InvalidNotificationConfiguration):
    """Configurations overlap. Configurations on the same bucket cannot share a common
    event type."""


class UnverifiedDestinations(InvalidNotificationConfiguration):
    """Unable to validate the following destination configurations"""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        # S3's message, then what a client that shows only the message needs to know.
        reasons = "; ".join(f"{arn}: {reason}" for arn, reason in refusals)
        super().__init__(f"{(self.__doc__ or '').strip()}: {reasons}")
        #: ``(ARN, why)`` for each destination that does not exist.
        self.refusals = refusals
        # S3's shape: one numbered ArgumentName/ArgumentValue pair per destination.
        for number, (arn, reason) in enumerate(refusals, start=1):
            self.details[f"ArgumentName{number}"] = arn
            self.details[f"ArgumentValue{number}"] = reason


# --- availability and limits ---------------------------------------------------------
# A dependency that fails (the database gone, the disk full) is not a bug: the layer that
# knows the cause raises one of these, and every front end answers it by code and status.


class ServiceUnavailable(ChuteError):
    """The service is unavailable for a moment; please try again."""

    code = "ServiceUnavailable"
    status = 503
    #: Seconds a client should wait before trying again (sent as ``Retry-After``).
    retry_after = 1

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(message)


class SlowDown(ServiceUnavailable):
    """Please reduce your request rate: the server is at its connection limit."""

    code = "SlowDown"


class CatalogUnavailable(ServiceUnavailable, CatalogError):
    """The catalog database is unavailable; please try again."""

    retry_after = 2


class BlobStoreUnavailable(ServiceUnavailable, BlobError):
    """The blob store is unavailable; please try again."""

    retry_after = 2


class StorageFull(ChuteError):
    """There is no room left to store the data: the disk or quota is full."""

    code = "XChuteStorageFull"
    status = 507


class RequestHeaderSectionTooLarge(ClientError):
    """Your request header section exceeds the maximum allowed size."""

    code = "RequestHeaderSectionTooLarge"
    status = 431


class RequestURITooLong(ClientError):
    """Your request URI exceeds the maximum allowed length."""

    code = "RequestURITooLong"
    status = 414


class RequestHeaderTimeout(ClientError):
    """Your request's headers did not arrive in time."""

    code = "RequestTimeout"
    status = 408


class MetadataTooLarge(InvalidArgument):
    """Your metadata headers exceed the maximum allowed metadata size."""

    code = "MetadataTooLarge"


# --- access keys ---------------------------------------------------------------------


class ExpiredToken(AuthError):
    """The provided token has expired."""

    code = "ExpiredToken"
    status = 400


class NoSuchAccessKey(ClientError):
    """The specified access key does not exist."""

    code = "NoSuchAccessKey"
    status = 404


class KeyFileError(ChuteError):
    """The key file that encrypts access key secrets cannot be used."""


class SecretUnreadable(KeyFileError):
    """A stored access key secret cannot be decrypted: the key file (``auth.key_file``)
    is not the one it was encrypted with."""


class CredentialsError(ChuteError):
    """The client's credentials are missing a part, or cannot be read."""

    code = "InvalidCredentials"


# --- functions -----------------------------------------------------------------------


class InvalidParameterValue(ClientError):
    """One of the parameters in the request is not valid."""

    code = "InvalidParameterValueException"


class ResourceNotFound(ClientError):
    """The resource specified in the request does not exist."""

    code = "ResourceNotFoundException"
    status = 404


class TooManyRequests(ClientError):
    """Rate Exceeded."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        #: Lambda's ``Reason`` (``ReservedFunctionConcurrentInvocationLimitExceeded``).
        self.reason = reason
