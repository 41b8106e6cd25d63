"""The column types a CSV chunk carries from ``data.split`` to ``data.convert``, so that
every chunk of a file converts to the types a single conversion of the whole file gives
(pyarrow infers them from a file's first block, and a chunk's first block is not the
file's).

They travel as one metadata value, :data:`SCHEMA_KEY`: the Arrow schema in its IPC form,
zlib-compressed and base64-encoded (~300 characters for ten columns). Metadata is the
uploader's to set on any object, so a value that is not such a schema is refused, and a
compressed one is never expanded past :data:`MAX_SCHEMA_BYTES`.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import TYPE_CHECKING

from chute.errors import Reject

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_KEY = "arrow-schema"
#: Longest value written; a wider schema is left out (S3 allows 2 KB of metadata in all).
MAX_SCHEMA_TEXT = 8 * 1024
#: Most bytes a value may expand to.
MAX_SCHEMA_BYTES = 1024 * 1024


def encode_schema(schema: pa.Schema) -> str | None:
    """The metadata value for ``schema``, or ``None`` if it would be over
    :data:`MAX_SCHEMA_TEXT`."""
    packed = zlib.compress(schema.serialize().to_pybytes(), 9)
    text = base64.b64encode(packed).decode("ascii")
    return text if len(text) <= MAX_SCHEMA_TEXT else None


def decode_schema(text: str) -> pa.Schema:
    """The schema a metadata value holds; rejects one that holds none."""
    import pyarrow as pa

    try:
        packed = base64.b64decode(text, validate=True)
        expander = zlib.decompressobj()
        serialized = expander.decompress(packed, MAX_SCHEMA_BYTES)
        if expander.unconsumed_tail or not expander.eof:
            raise ValueError("too long or truncated")
        return pa.ipc.read_schema(pa.py_buffer(serialized))
    except (binascii.Error, zlib.error, ValueError, pa.ArrowException) as exc:
        raise Reject(
            f"the source's {SCHEMA_KEY!r} metadata is not a serialised Arrow schema ({exc})"
        ) from None
