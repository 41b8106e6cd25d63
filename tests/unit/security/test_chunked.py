"""aws-chunked decoding: AWS's chunked examples, botocore's unsigned trailer bodies, what
real clients send at the end, and every way a body can be broken, fed in blocks of any
size."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from chute.blobs.checksums import ChecksumAlgorithm, Checksummer
from chute.errors import (
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidChunkSize,
    MalformedChunkedEncoding,
    MalformedTrailer,
    SignatureDoesNotMatch,
)
from chute.security.chunked import MAX_LINE, ChunkedDecoder, announced_trailers
from chute.security.sigv4 import PayloadKind, SignedRequest
from tests.unit.security.vectors import (
    CHUNKED_SEED,
    CHUNKED_SIGNATURES,
    TRAILER_CHUNK_SIGNATURES,
    TRAILER_CRC32C,
    TRAILER_SEED,
    TRAILER_SIGNATURE,
    example_body,
    example_key,
    signed_body,
)

SIGNED = PayloadKind.STREAMING_SIGNED
SIGNED_TRAILER = PayloadKind.STREAMING_SIGNED_TRAILER
UNSIGNED_TRAILER = PayloadKind.STREAMING_UNSIGNED_TRAILER
EXAMPLE_DATA = b"a" * 66560
CRC32 = "x-amz-checksum-crc32"
CRC32C = "x-amz-checksum-crc32c"


def blocks(body: bytes, size: int) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def decode(decoder: ChunkedDecoder, body: bytes, size: int = 65536) -> bytes:
    return b"".join(decoder.decode(blocks(body, size)))


def example_trailer(signature: str = TRAILER_SIGNATURE, crc: str = TRAILER_CRC32C) -> bytes:
    return f"{CRC32C}:{crc}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode()


def signed_decoder(**options: object) -> ChunkedDecoder:
    return ChunkedDecoder(SIGNED, signing_key=example_key(CHUNKED_SEED), **options)  # type: ignore[arg-type]


def trailer_decoder(**options: object) -> ChunkedDecoder:
    return ChunkedDecoder(
        SIGNED_TRAILER,
        signing_key=example_key(TRAILER_SEED),
        trailer_names=[CRC32C],
        **options,  # type: ignore[arg-type]
    )


# --- AWS's examples ------------------------------------------------------------------


def test_aws_chunked_example_is_the_documented_size() -> None:
    assert len(example_body(CHUNKED_SIGNATURES)) == 66824
    assert len(example_body(TRAILER_CHUNK_SIGNATURES, example_trailer())) == 66946


@pytest.mark.parametrize("size", [1, 7, 4096, 65536 + 90, 1 << 20])
def test_aws_chunked_example_decodes_in_blocks_of_any_size(size: int) -> None:
    decoder = signed_decoder(decoded_length=66560)
    pieces = list(decoder.decode(blocks(example_body(CHUNKED_SIGNATURES), size)))

    assert b"".join(pieces) == EXAMPLE_DATA
    assert max(len(piece) for piece in pieces) <= min(size, 65536)
    assert (decoder.decoded, decoder.trailers) == (66560, {})


@pytest.mark.parametrize("size", [1, 13, 65536])
def test_aws_trailer_example_decodes_and_checks_its_checksum(size: int) -> None:
    checksum = Checksummer(ChecksumAlgorithm.CRC32C)
    decoder = trailer_decoder(checksums={CRC32C: checksum}, decoded_length=66560)

    body = example_body(TRAILER_CHUNK_SIGNATURES, example_trailer())

    assert decode(decoder, body, size) == EXAMPLE_DATA
    assert decoder.trailers == {CRC32C: TRAILER_CRC32C}
    assert checksum.b64digest() == TRAILER_CRC32C


def test_a_chunk_signature_broken_mid_stream_raises_before_the_end() -> None:
    body = bytearray(example_body(CHUNKED_SIGNATURES))
    body[100] = ord("b")  # a byte of the first chunk's data
    stored: list[bytes] = []

    with pytest.raises(SignatureDoesNotMatch, match="chunk 1"):
        stored.extend(signed_decoder().decode(blocks(bytes(body), 4096)))

    # The consumer saw data, but the iterator never finished: nothing is committed.
    assert 0 < len(b"".join(stored)) <= 65536


@pytest.mark.parametrize("chunk", [0, 1, 2])
def test_each_chunk_signature_is_checked(chunk: int) -> None:
    signatures = list(CHUNKED_SIGNATURES)
    signatures[chunk] = "0" * 64

    with pytest.raises(SignatureDoesNotMatch, match=f"chunk {chunk + 1}"):
        decode(signed_decoder(), example_body(tuple(signatures)))


def test_chunks_are_chained_from_the_request_signature() -> None:
    decoder = ChunkedDecoder(SIGNED, signing_key=example_key(TRAILER_SEED))

    with pytest.raises(SignatureDoesNotMatch, match="chunk 1"):
        decode(decoder, example_body(CHUNKED_SIGNATURES))


def test_chunks_cannot_be_dropped_or_reordered() -> None:
    body = example_body(CHUNKED_SIGNATURES)
    first, second, final = body[:65626], body[65626:66738], body[66738:]
    assert first + second + final == body

    with pytest.raises(SignatureDoesNotMatch, match="chunk 2"):
        decode(signed_decoder(), first + final)
    with pytest.raises(SignatureDoesNotMatch, match="chunk 1"):
        decode(signed_decoder(), second + first + final)


def test_a_wrong_trailer_signature_is_refused() -> None:
    body = example_body(TRAILER_CHUNK_SIGNATURES, example_trailer(signature="1" * 64))

    with pytest.raises(SignatureDoesNotMatch, match="trailing headers"):
        decode(trailer_decoder(), body)


def test_the_trailer_signature_covers_the_checksum() -> None:
    body = example_body(TRAILER_CHUNK_SIGNATURES, example_trailer(crc="AAAAAA=="))

    with pytest.raises(SignatureDoesNotMatch, match="trailing headers"):
        decode(trailer_decoder(), body)


def test_signed_trailers_need_their_signature() -> None:
    body = example_body(TRAILER_CHUNK_SIGNATURES, f"{CRC32C}:{TRAILER_CRC32C}\r\n\r\n".encode())

    with pytest.raises(MalformedTrailer, match="without x-amz-trailer-signature"):
        decode(trailer_decoder(), body)


# --- botocore's unsigned trailer bodies ------------------------------------------------


def botocore_body(data: bytes, chunk_size: int = 1024, checksum: bool = True) -> bytes:
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=Crc32Checksum if checksum else None,
        checksum_name=CRC32,
        chunk_size=chunk_size,
    )
    return wrapper.read()


def unsigned_decoder(checksum: Crc32Checksum | None = None, **options: object) -> ChunkedDecoder:
    return ChunkedDecoder(
        UNSIGNED_TRAILER,
        trailer_names=[CRC32],
        checksums={CRC32: checksum or Crc32Checksum()},
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("data", [b"", b"x", b"hello world" * 1000, bytes(range(256)) * 300])
@pytest.mark.parametrize("size", [1, 100, 1 << 20])
def test_botocore_unsigned_trailer_bodies_decode(data: bytes, size: int) -> None:
    body = botocore_body(data)
    assert body.endswith(b"\r\n\r\n")
    decoder = unsigned_decoder(decoded_length=len(data))

    assert decode(decoder, body, size) == data
    assert list(decoder.trailers) == [CRC32]


def test_a_botocore_body_with_changed_data_fails_its_checksum() -> None:
    body = botocore_body(b"hello world" * 1000).replace(b"world", b"w0rld", 1)

    with pytest.raises(BadDigest) as caught:
        decode(unsigned_decoder(), body)

    assert caught.value.message == "The CRC32 you specified did not match the calculated checksum."
    assert (caught.value.status, caught.value.code) == (400, "BadDigest")


def test_botocore_body_without_a_checksum() -> None:
    body = botocore_body(b"data", checksum=False)
    assert body.endswith(b"0\r\n\r\n")

    assert decode(ChunkedDecoder(UNSIGNED_TRAILER), body) == b"data"


def test_unsigned_chunks_may_be_any_size() -> None:
    body = botocore_body(b"x" * 5000, chunk_size=10)

    assert decode(unsigned_decoder(), body) == b"x" * 5000


# --- trailers --------------------------------------------------------------------------


def unsigned_body(trailer: bytes) -> bytes:
    return b"5\r\nhello\r\n0\r\n" + trailer


def test_an_unannounced_trailer_is_refused() -> None:
    with pytest.raises(MalformedTrailer, match="x-amz-checksum-sha256 was not announced"):
        decode(unsigned_decoder(), unsigned_body(b"x-amz-checksum-sha256:abc=\r\n\r\n"))


def test_an_announced_trailer_must_be_sent() -> None:
    with pytest.raises(MalformedTrailer, match="x-amz-checksum-crc32 announced"):
        decode(unsigned_decoder(), unsigned_body(b"\r\n"))


def test_a_trailer_sent_twice_is_refused() -> None:
    trailer = b"x-amz-checksum-crc32:NhCmhg==\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"

    with pytest.raises(MalformedTrailer, match="sent twice"):
        decode(unsigned_decoder(), unsigned_body(trailer))


def test_a_trailer_needs_a_colon() -> None:
    with pytest.raises(MalformedTrailer, match="name:value"):
        decode(unsigned_decoder(), unsigned_body(b"x-amz-checksum-crc32 NhCmhg==\r\n\r\n"))


def test_an_unsigned_body_cannot_carry_a_trailer_signature() -> None:
    trailer = f"x-amz-checksum-crc32:NhCmhg==\r\nx-amz-trailer-signature:{'0' * 64}\r\n\r\n"

    with pytest.raises(MalformedTrailer, match="x-amz-trailer-signature was not announced"):
        decode(unsigned_decoder(), unsigned_body(trailer.encode()))


def test_a_body_without_trailers_refuses_them() -> None:
    body = example_body(CHUNKED_SIGNATURES, f"{CRC32}:NhCmhg==\r\n\r\n".encode())

    with pytest.raises(MalformedTrailer, match="announces no trailing headers"):
        decode(signed_decoder(), body)


def test_trailer_names_and_values_are_read_loosely() -> None:
    decoder = unsigned_decoder()

    decode(decoder, unsigned_body(b"X-Amz-Checksum-CRC32 :  NhCmhg== \r\n\r\n"))

    assert decoder.trailers == {CRC32: "NhCmhg=="}


# --- the end of the body ---------------------------------------------------------------

HELLO_CRC32 = "NhCmhg=="
ENDINGS = {
    "botocore": f"0\r\n{CRC32}:{HELLO_CRC32}\r\n\r\n",
    "last CRLF missing": f"0\r\n{CRC32}:{HELLO_CRC32}\r\n",
    "trailer CRLF missing": f"0\r\n{CRC32}:{HELLO_CRC32}",
    "empty line before the trailer": f"0\r\n\r\n{CRC32}:{HELLO_CRC32}\r\n\r\n",
    "bare line feeds": f"0\n{CRC32}:{HELLO_CRC32}\n\n",
    "CRLFs after the end": f"0\r\n{CRC32}:{HELLO_CRC32}\r\n\r\n\r\n\r\n",
}


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS)
@pytest.mark.parametrize("size", [1, 1000])
def test_endings_real_clients_send(ending: str, size: int) -> None:
    decoder = unsigned_decoder(decoded_length=5)

    assert decode(decoder, b"5\r\nhello\r\n" + ending.encode(), size) == b"hello"
    assert decoder.trailers == {CRC32: HELLO_CRC32}


@pytest.mark.parametrize("ending", ["0;chunk-signature={}\r\n\r\n", "0;chunk-signature={}\r\n"])
def test_signed_endings(ending: str) -> None:
    body = example_body(CHUNKED_SIGNATURES)[:-86] + ending.format(CHUNKED_SIGNATURES[2]).encode()

    assert decode(signed_decoder(), body) == EXAMPLE_DATA


def test_a_final_chunk_header_may_end_the_body_without_crlf() -> None:
    assert decode(ChunkedDecoder(UNSIGNED_TRAILER), b"5\r\nhello\r\n0") == b"hello"


def test_data_after_the_end_is_refused() -> None:
    body = botocore_body(b"hello") + b"5\r\nworld\r\n"

    with pytest.raises(MalformedChunkedEncoding, match="follows the end"):
        decode(unsigned_decoder(), body)


# --- malformed framing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [b"zz", b"", b"-5", b"0x5", b"+5", b"5 5", b"1" * 17, b"\xff"],
)
def test_malformed_chunk_sizes(header: bytes) -> None:
    with pytest.raises(MalformedChunkedEncoding, match="Invalid aws-chunked chunk size"):
        decode(ChunkedDecoder(UNSIGNED_TRAILER), header + b"\r\nhello\r\n0\r\n\r\n")


def test_chunk_sizes_in_either_case_and_with_extensions() -> None:
    body = b"A\r\n0123456789\r\nb;name=value\r\n0123456789a\r\n0\r\n\r\n"

    assert decode(ChunkedDecoder(UNSIGNED_TRAILER), body) == b"01234567890123456789a"


def test_data_longer_than_its_size() -> None:
    with pytest.raises(MalformedChunkedEncoding, match="Chunk 1 is longer than its size"):
        decode(ChunkedDecoder(UNSIGNED_TRAILER), b"3\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"5\r\nhel",
        b"5\r\nhello",
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n5",
        b"10000;chunk-signature=",
    ],
)
def test_truncated_bodies(body: bytes) -> None:
    with pytest.raises((IncompleteBody, MalformedChunkedEncoding)):
        decode(ChunkedDecoder(UNSIGNED_TRAILER), body)


def test_truncated_body_is_an_incomplete_body() -> None:
    with pytest.raises(IncompleteBody, match="ended before its final chunk") as caught:
        decode(ChunkedDecoder(UNSIGNED_TRAILER), b"5\r\nhello\r\n")

    assert (caught.value.status, caught.value.code) == (400, "IncompleteBody")


def test_an_oversized_header_line_is_refused_without_buffering_it() -> None:
    decoder = ChunkedDecoder(UNSIGNED_TRAILER)
    endless = iter([b"5;" + b"x" * (1 << 20)])

    with pytest.raises(MalformedChunkedEncoding, match=f"longer than {MAX_LINE} bytes"):
        list(decoder.decode(endless))


def test_an_oversized_line_fed_byte_by_byte() -> None:
    body = b"5;" + b"x" * MAX_LINE + b"\r\nhello\r\n0\r\n\r\n"

    with pytest.raises(MalformedChunkedEncoding, match="longer than"):
        decode(ChunkedDecoder(UNSIGNED_TRAILER), body, 1)


def test_a_line_of_the_largest_size_is_accepted() -> None:
    header = b"5;" + b"x" * (MAX_LINE - 4) + b"\r\n"
    assert len(header) == MAX_LINE

    assert decode(ChunkedDecoder(UNSIGNED_TRAILER), header + b"hello\r\n0\r\n\r\n") == b"hello"


def test_a_signed_chunk_needs_its_signature() -> None:
    body = example_body(CHUNKED_SIGNATURES).replace(b";chunk-signature=", b";chunk-sig=", 1)

    with pytest.raises(MalformedChunkedEncoding, match="Chunk 1 carries no chunk-signature"):
        decode(signed_decoder(), body)


# --- sizes and lengths -----------------------------------------------------------------


def test_only_the_last_signed_chunk_may_be_small() -> None:
    key = example_key(CHUNKED_SEED)
    good = signed_body(key, [b"a" * 8192, b"b" * 8192, b"c"])
    bad = signed_body(key, [b"a" * 8192, b"b" * 8191, b"c"])

    assert decode(ChunkedDecoder(SIGNED, signing_key=key), good) == b"a" * 8192 + b"b" * 8192 + b"c"
    with pytest.raises(InvalidChunkSize) as caught:
        decode(ChunkedDecoder(SIGNED, signing_key=key), bad)
    assert caught.value.code == "InvalidChunkSizeError"
    assert (
        caught.value.message == "Only the last chunk is allowed to have a size less than 8192 bytes"
    )


def test_decoded_length_shorter_than_announced() -> None:
    with pytest.raises(
        IncompleteBody, match="holds 66560 bytes; its x-amz-decoded-content-length says 66561"
    ):
        decode(signed_decoder(decoded_length=66561), example_body(CHUNKED_SIGNATURES))


def test_decoded_length_longer_than_announced_stops_the_stream() -> None:
    stored: list[bytes] = []

    pieces = signed_decoder(decoded_length=1000).decode(
        blocks(example_body(CHUNKED_SIGNATURES), 512)
    )

    with pytest.raises(IncompleteBody, match="longer than its x-amz-decoded-content-length"):
        stored.extend(pieces)

    assert len(b"".join(stored)) <= 1000


# --- set up from a request ------------------------------------------------------------


def test_decoder_for_a_request() -> None:
    request = SignedRequest(
        "PUT",
        b"/bucket/key",
        b"",
        [
            ("host", "localhost"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("x-amz-decoded-content-length", "5"),
        ],
    )
    checksum = Crc32Checksum()

    decoder = ChunkedDecoder.for_request(request, UNSIGNED_TRAILER, checksums={CRC32: checksum})

    assert decode(decoder, botocore_body(b"hello")) == b"hello"
    with pytest.raises(IncompleteBody):
        decode(ChunkedDecoder.for_request(request, UNSIGNED_TRAILER), botocore_body(b"hello!"))


def test_decoded_length_header_must_be_a_number() -> None:
    request = SignedRequest("PUT", b"/", b"", [("x-amz-decoded-content-length", "-1")])

    with pytest.raises(InvalidArgument, match="x-amz-decoded-content-length"):
        ChunkedDecoder.for_request(request, UNSIGNED_TRAILER)


def test_announced_trailers() -> None:
    assert announced_trailers(None) == ()
    assert announced_trailers(" X-Amz-Checksum-CRC32 , x-amz-meta-a,,") == (CRC32, "x-amz-meta-a")


def test_a_trailer_announced_for_a_body_without_trailers() -> None:
    with pytest.raises(MalformedTrailer, match="has no trailing headers"):
        ChunkedDecoder(SIGNED, signing_key=example_key(CHUNKED_SEED), trailer_names=[CRC32])


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (PayloadKind.UNSIGNED, {}, "not aws-chunked"),
        (PayloadKind.SIGNED_HEX, {}, "not aws-chunked"),
        (SIGNED, {}, "signing key"),
        (SIGNED_TRAILER, {"trailer_names": [CRC32]}, "signing key"),
        (UNSIGNED_TRAILER, {"checksums": {CRC32: Crc32Checksum()}}, "not announced"),
    ],
)
def test_decoder_options_must_fit_the_kind(
    kind: PayloadKind, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkedDecoder(kind, **options)  # type: ignore[arg-type]
