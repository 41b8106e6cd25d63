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


class BadDigest(ClientError):
    """The Content-MD5 you sent does not match what was received."""

    code = "BadDigest"


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


class AccessDenied(AuthError):
    """Access Denied"""

    code = "AccessDenied"


class HeadersNotSigned(AccessDenied):
    """There were headers present in the request which were not signed"""

    def __init__(self, headers: list[str]) -> None:
        #: The ``x-amz-*`` headers sent but left out of the signature (S3's
        #: ``HeadersNotSigned``), sorted.
        self.headers = headers
        super().__init__()


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
        #: What the server signed, for S3's ``StringToSign`` and ``CanonicalRequest``
        #: (empty for a chunk or trailer signature).
        self.string_to_sign = string_to_sign
        self.canonical_request = canonical_request
        super().__init__(message)

    @property
    def string_to_sign_bytes(self) -> str:
        """``StringToSign`` as S3 shows it: each UTF-8 byte in hex, spaced."""
        return self.string_to_sign.encode().hex(" ")

    @property
    def canonical_request_bytes(self) -> str:
        """``CanonicalRequest`` as S3 shows it: each UTF-8 byte in hex, spaced."""
        return self.canonical_request.encode().hex(" ")


class RequestTimeTooSkewed(AuthError):
    """The difference between the request time and the current time is too large."""

    code = "RequestTimeTooSkewed"


class AuthorizationHeaderMalformed(AuthError):
    """The authorization header is malformed."""

    code = "AuthorizationHeaderMalformed"
    status = 400

    def __init__(self, message: str | None = None, *, region: str | None = None) -> None:
        #: The region the server expects, when that is what was wrong: S3 sends it as
        #: ``Region`` and SDKs retry there.
        self.region = region
        super().__init__(message)


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


class XAmzContentSHA256Mismatch(ClientError):
    """The provided 'x-amz-content-sha256' header does not match what was computed."""

    code = "XAmzContentSHA256Mismatch"

    def __init__(self, client_sha256: str, computed_sha256: str) -> None:
        #: S3's ``ClientComputedContentSHA256`` and ``S3ComputedContentSHA256``.
        self.client_sha256 = client_sha256
        self.computed_sha256 = computed_sha256
        super().__init__()


class NotImplementedFeature(ClientError):
    """A header you provided implies functionality that is not implemented."""

    code = "NotImplemented"
    status = 501


class MalformedChunkedEncoding(ClientError):
    """The aws-chunked request body is not well formed."""

    code = "InvalidRequest"


class InvalidChunkSize(ClientError):
    """Only the last chunk is allowed to have a size less than 8192 bytes"""

    code = "InvalidChunkSizeError"


class MalformedTrailer(ClientError):
    """The trailing headers of the aws-chunked body are not well formed."""

    code = "MalformedTrailerError"


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
