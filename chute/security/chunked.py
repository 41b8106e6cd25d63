"""aws-chunked request bodies, decoded as they stream: chunk signatures, trailing
headers and the decoded length checked on the way.

A body sent with ``x-amz-content-sha256: STREAMING-...`` is a series of chunks::

    <size in hex>[;chunk-signature=<signature>]\\r\\n<data>\\r\\n
    ...
    0[;chunk-signature=<signature>]\\r\\n
    [<trailer name>:<value>\\r\\n ... [x-amz-trailer-signature:<signature>\\r\\n]]
    \\r\\n

:class:`ChunkedDecoder` turns the raw body, in blocks of any size, into the payload's
bytes. It holds one chunk header or trailer line at a time (at most :data:`MAX_LINE`
bytes); chunk data, which may be megabytes, passes straight through.

Data is yielded before its chunk's signature is checked: the check is made as the chunk
ends, and a bad signature, checksum, length or framing raises from the iterator before
it finishes. A consumer that commits what it stored only once the iterator is exhausted
(as the object service does: an interrupted write leaves nothing) therefore never keeps
a byte of a body that fails.

Real clients differ at the end: botocore sends ``0\\r\\n<trailer>\\r\\n\\r\\n``, some omit
the last CRLF, some put an empty line between the final chunk and the trailers. All are
accepted; bytes other than CR and LF after the end are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum, auto
from typing import Final, Protocol

from chute.errors import (
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidChunkSize,
    MalformedChunkedEncoding,
    MalformedTrailer,
    SignatureDoesNotMatch,
)
from chute.security.payload import PayloadKind
from chute.security.sigv4 import SignedRequest, SigningKey

#: The longest chunk header or trailer line, CRLF included.
MAX_LINE: Final = 4096
#: The smallest a signed chunk may be, but the last one with data.
MIN_CHUNK_SIZE: Final = 8192
TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_CHUNK_SIGNATURE = re.compile(rb"chunk-signature=([0-9a-fA-F]{64})")


class Checksum(Protocol):
    """A running checksum of the decoded data, whose value a trailer states (botocore's
    checksum objects have this shape)."""

    def update(self, data: bytes, /) -> None: ...

    def b64digest(self) -> str: ...


class _State(Enum):
    HEADER = auto()  # reading a chunk header line
    DATA = auto()  # passing a chunk's data through
    DATA_END = auto()  # reading the CRLF after a chunk's data
    TRAILER = auto()  # after the final chunk: reading trailer lines
    DONE = auto()  # the final empty line was read


def announced_trailers(value: str | None) -> tuple[str, ...]:
    """The trailer names an ``x-amz-trailer`` header announces, in lower case."""
    if value is None:
        return ()
    return tuple(name.strip().lower() for name in value.split(",") if name.strip())


class ChunkedDecoder:
    """Decodes one aws-chunked body of ``kind``.

    ``signing_key`` (what :func:`chute.security.sigv4.verify` returned) checks chunk and
    trailer signatures, and is needed for the signed kinds. Only ``trailer_names`` are
    accepted as trailers, and each must be sent; a checksum in ``checksums`` (by trailer
    name) is fed the decoded data and compared with its trailer. ``decoded_length`` is
    ``x-amz-decoded-content-length``. After decoding, :attr:`trailers` holds the
    trailers received and :attr:`decoded` the payload's length.
    """

    def __init__(
        self,
        kind: PayloadKind,
        *,
        signing_key: SigningKey | None = None,
        trailer_names: Iterable[str] = (),
        checksums: Mapping[str, Checksum] | None = None,
        decoded_length: int | None = None,
        unchecked: bool = False,
    ) -> None:
        self._kind = kind
        self._key = signing_key
        self._trailer_names = frozenset(trailer_names)
        self._checksums = dict(checksums or {})
        self._decoded_length = decoded_length
        _check_options(kind, signing_key or unchecked, self._trailer_names, self._checksums)
        #: The trailers received, by name (lower case).
        self.trailers: dict[str, str] = {}
        #: Payload bytes decoded so far.
        self.decoded = 0
        self._state = _State.HEADER
        self._line = bytearray()
        self._remaining = 0  # data bytes left in the current chunk
        self._chunks = 0
        self._short_chunk = False  # a chunk with data smaller than MIN_CHUNK_SIZE was seen
        self._previous = signing_key.seed_signature if signing_key else ""
        self._chunk_signature = ""
        self._chunk_sha256 = hashlib.sha256()
        self._trailer_lines: list[str] = []
        self._trailer_signature: str | None = None

    @classmethod
    def for_request(
        cls,
        request: SignedRequest,
        kind: PayloadKind,
        *,
        signing_key: SigningKey | None = None,
        checksums: Mapping[str, Checksum] | None = None,
        unchecked: bool = False,
    ) -> ChunkedDecoder:
        """The decoder of ``request``'s body: trailers and decoded length from its
        ``x-amz-trailer`` and ``x-amz-decoded-content-length`` headers."""
        length = request.header("x-amz-decoded-content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            raise InvalidArgument("x-amz-decoded-content-length must be a number of bytes")
        return cls(
            kind,
            signing_key=signing_key,
            trailer_names=announced_trailers(request.header("x-amz-trailer")),
            checksums=checksums,
            decoded_length=None if length is None else int(length),
            unchecked=unchecked,
        )

    def decode(self, body: Iterable[bytes]) -> Iterator[bytes]:
        """The payload of ``body`` (the raw request body, in blocks of any size), in
        blocks; raises before finishing if the body is not sound."""
        for block in body:
            yield from self.feed(block)
        self.finish()

    def feed(self, block: bytes) -> Iterator[bytes]:
        """The payload bytes in the next ``block`` of the body. Exhaust it before feeding
        the next block."""
        position = 0
        while position < len(block):
            if self._state is _State.DATA:
                end = position + min(self._remaining, len(block) - position)
                data = block if (position, end) == (0, len(block)) else block[position:end]
                self._take(data)
                position = end
                yield data
            elif self._state is _State.DONE:
                if block[position:].strip(b"\r\n"):
                    raise MalformedChunkedEncoding("data follows the end of the aws-chunked body")
                return
            else:
                position = self._read_line(block, position)

    def finish(self) -> None:
        """The body ended: check that it ended where it may, its trailers, checksums,
        trailer signature and decoded length."""
        if self._line and self._state in (_State.HEADER, _State.TRAILER):
            # The last line may come without its CRLF.
            line, self._line = bytes(self._line), bytearray()
            self._on_line(line.removesuffix(b"\r"))
        if self._state is _State.TRAILER:
            self._end_trailers()
        if self._state is not _State.DONE:
            raise IncompleteBody("The aws-chunked body ended before its final chunk")

    # --- lines -----------------------------------------------------------------------

    def _read_line(self, block: bytes, position: int) -> int:
        newline = block.find(b"\n", position)
        end = len(block) if newline < 0 else newline + 1
        if len(self._line) + end - position > MAX_LINE:
            raise MalformedChunkedEncoding(
                f"An aws-chunked header or trailer line is longer than {MAX_LINE} bytes"
            )
        self._line += block[position:end]
        if newline >= 0:
            line, self._line = bytes(self._line[:-1]), bytearray()
            self._on_line(line.removesuffix(b"\r"))
        return end

    def _on_line(self, line: bytes) -> None:
        if self._state is _State.HEADER:
            self._on_chunk_header(line)
        elif self._state is _State.DATA_END:
            if line:
                raise MalformedChunkedEncoding(f"Chunk {self._chunks} is longer than its size")
            self._state = _State.HEADER
        else:
            self._on_trailer_line(line)

    # --- chunks ----------------------------------------------------------------------

    def _on_chunk_header(self, line: bytes) -> None:
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            shown = size_text[:32].decode("latin-1")
            raise MalformedChunkedEncoding(f"Invalid aws-chunked chunk size {shown!r}")
        size = int(size_text, 16)
        self._chunks += 1
        if self._kind.signed_chunks:
            self._chunk_signature = _chunk_signature(extensions, self._chunks)
            if size and self._short_chunk:
                raise InvalidChunkSize()
        self._short_chunk = 0 < size < MIN_CHUNK_SIZE
        if size:
            self._remaining = size
            self._state = _State.DATA
        else:
            self._end_chunk()
            self._state = _State.TRAILER

    def _take(self, data: bytes) -> None:
        self.decoded += len(data)
        if self._decoded_length is not None and self.decoded > self._decoded_length:
            raise IncompleteBody(
                "The aws-chunked body is longer than its x-amz-decoded-content-length,"
                f" {self._decoded_length} bytes"
            )
        if self._kind.signed_chunks:
            self._chunk_sha256.update(data)
        for checksum in self._checksums.values():
            checksum.update(data)
        self._remaining -= len(data)
        if not self._remaining:
            self._end_chunk()
            self._state = _State.DATA_END

    def _end_chunk(self) -> None:
        if self._key is None:
            return
        digest, self._chunk_sha256 = self._chunk_sha256.hexdigest(), hashlib.sha256()
        expected = self._key.chunk_signature(self._previous, digest)
        if not _same(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(f"The signature of chunk {self._chunks} does not match")
        self._previous = expected

    # --- trailers --------------------------------------------------------------------

    def _on_trailer_line(self, line: bytes) -> None:
        if not line:
            # An empty line ends the body; before any trailer it may only separate them.
            if self.trailers or self._trailer_signature or not self._kind.has_trailer:
                self._end_trailers()
            return
        if not self._kind.has_trailer:
            raise MalformedTrailer("This aws-chunked body announces no trailing headers")
        raw_name, colon, raw_value = line.partition(b":")
        name = raw_name.strip(b" \t").decode("latin-1").lower()
        value = raw_value.strip(b" \t").decode("latin-1")
        if not colon or not name:
            raise MalformedTrailer("A trailing header must be name:value")
        if self._trailer_signature is not None:
            raise MalformedTrailer(f"{TRAILER_SIGNATURE} must be the last trailing header")
        if name == TRAILER_SIGNATURE and self._kind.signed_chunks:
            self._trailer_signature = value
        elif name not in self._trailer_names:
            raise MalformedTrailer(f"The trailing header {name} was not announced in x-amz-trailer")
        elif name in self.trailers:
            raise MalformedTrailer(f"The trailing header {name} is sent twice")
        else:
            self.trailers[name] = value
            self._trailer_lines.append(f"{name}:{value}\n")

    def _end_trailers(self) -> None:
        missing = sorted(self._trailer_names - set(self.trailers))
        if missing:
            raise MalformedTrailer(
                f"The trailing header {missing[0]} announced in x-amz-trailer was not sent"
            )
        self._check_trailer_signature()
        for name, checksum in self._checksums.items():
            if checksum.b64digest() != self.trailers[name]:
                algorithm = name.removeprefix("x-amz-checksum-").upper()
                raise BadDigest(
                    f"The {algorithm} you specified did not match the calculated checksum."
                )
        if self._decoded_length is not None and self.decoded != self._decoded_length:
            raise IncompleteBody(
                f"The aws-chunked body holds {self.decoded} bytes; its"
                f" x-amz-decoded-content-length says {self._decoded_length}"
            )
        self._state = _State.DONE

    def _check_trailer_signature(self) -> None:
        if self._key is None or not self._kind.has_trailer:
            return
        if self._trailer_signature is None:
            if self.trailers:
                raise MalformedTrailer(f"The trailing headers come without {TRAILER_SIGNATURE}")
            return
        digest = hashlib.sha256("".join(self._trailer_lines).encode("latin-1")).hexdigest()
        if not _same(self._key.trailer_signature(self._previous, digest), self._trailer_signature):
            raise SignatureDoesNotMatch("The signature of the trailing headers does not match")


def _check_options(
    kind: PayloadKind,
    signing_key: SigningKey | bool | None,
    trailer_names: frozenset[str],
    checksums: Mapping[str, Checksum],
) -> None:
    if not kind.chunked:
        raise ValueError(f"a {kind.value} body is not aws-chunked")
    if kind.signed_chunks and not signing_key:
        raise ValueError("signed chunks need the request's signing key")
    if not set(checksums) <= trailer_names:
        raise ValueError("a checksum is given for a trailer not announced")
    if trailer_names and not kind.has_trailer:
        raise MalformedTrailer(f"x-amz-trailer is set but {kind.value} has no trailing headers")


def _chunk_signature(extensions: bytes, chunk: int) -> str:
    for extension in extensions.split(b";"):
        found = _CHUNK_SIGNATURE.fullmatch(extension.strip(b" \t"))
        if found:
            return found.group(1).decode("ascii").lower()
    raise MalformedChunkedEncoding(f"Chunk {chunk} carries no chunk-signature")


def _same(expected: str, received: str | None) -> bool:
    return received is not None and hmac.compare_digest(
        expected.encode(), received.encode("latin-1")
    )
