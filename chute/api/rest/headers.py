"""The response headers the JSON API adds to HTTP's, named once for the server and for
the ``chute`` command (which must not import the web framework to read them).

:func:`chute.api.http.object_headers` writes the object headers GET and HEAD share.
"""

from __future__ import annotations

from typing import Final

#: The id of the version written, read or deleted.
VERSION_ID: Final = "x-chute-version-id"
#: ``true`` when the version a request touched is, or became, a delete marker.
DELETE_MARKER: Final = "x-chute-delete-marker"
#: The error code of a HEAD answer, which has no body to carry it.
ERROR_CODE: Final = "x-chute-error-code"
#: The SHA-256 of the object's bytes, for clients to check a download.
SHA256: Final = "x-chute-sha256"
#: User metadata travels as ``x-chute-meta-NAME`` headers.
METADATA_PREFIX: Final = "x-chute-meta-"
