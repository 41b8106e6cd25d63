"""HTTP pieces both API front ends share: request bodies streamed into the blocking object
service, object headers and conditional requests, byte ranges, ``Content-MD5``."""

from chute.api.http.body import (
    BLOCK,
    BodyStream,
    SmallBodyRequest,
    content_length,
    read_small_body,
    stream_reader,
)
from chute.api.http.digests import content_md5
from chute.api.http.headers import (
    METADATA_PREFIX,
    check_conditions,
    object_headers,
    quoted_etag,
    user_metadata,
)
from chute.api.http.observe import ObservedRequests
from chute.api.http.paths import KEY
from chute.api.http.ranges import parse_range

__all__ = [
    "BLOCK",
    "KEY",
    "METADATA_PREFIX",
    "BodyStream",
    "ObservedRequests",
    "SmallBodyRequest",
    "check_conditions",
    "content_length",
    "content_md5",
    "object_headers",
    "parse_range",
    "quoted_etag",
    "read_small_body",
    "stream_reader",
    "user_metadata",
]
