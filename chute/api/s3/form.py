"""``multipart/form-data`` bodies as browsers send them to S3's POST uploads: the fields
before the file, read into memory (20 KiB at most, as S3 allows), then the file's bytes,
streamed.

S3 reads a form up to its ``file`` part, which must come last: parts after it are
ignored. The reader blocks: fed the raw body in blocks (from
:class:`~chute.api.http.body.BodyStream`), it runs in the worker thread that stores the
file, so the object service pulls the file's bytes through it as it writes them, and
memory holds a few blocks whatever the file's size. Parsing is python-multipart's, the
parser Starlette uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from chute.errors import (
    InvalidArgument,
    MalformedPOSTRequest,
    MaxPostPreDataLengthExceeded,
)

#: S3: "The form data and boundaries (excluding the contents of the file) cannot exceed
#: 20KB."
MAX_FIELDS_BYTES: Final = 20 * 1024
#: The part that holds the upload.
FILE_FIELD: Final = "file"
#: How much of the body after the file is read (and dropped) before answering.
_TRAILER_BYTES: Final = 64 * 1024


class _Part(Enum):
    FIELD = "field"
    FILE = "file"
    IGNORED = "ignored"  # after the file


@dataclass(frozen=True, slots=True)
class FormFields:
    """What precedes a form's file."""

    #: The fields in order, names as sent.
    fields: list[tuple[str, str]]
    #: The file part's ``filename`` parameter (``None``: it has none).
    filename: str | None


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type."""
    _, parameters = parse_options_header(content_type)
    boundary = parameters.get(b"boundary")
    if not boundary:
        raise MalformedPOSTRequest()
    return boundary


class FormReader:
    """A form body, parsed as it is read: :meth:`read_fields` first, then :meth:`file`."""

    def __init__(
        self, boundary: bytes, raw: Iterable[bytes], max_fields_bytes: int = MAX_FIELDS_BYTES
    ) -> None:
        self._raw = iter(raw)
        self._max_fields_bytes = max_fields_bytes
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError:
            raise MalformedPOSTRequest() from None
        self._fields: list[tuple[str, str]] = []
        self._fields_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._part = _Part.FIELD
        self._name = ""
        self._value = bytearray()
        self._filename: str | None = None
        self._file_started = self._file_done = self._ended = False
        self._pending: list[bytes] = []

    def read_fields(self) -> FormFields:
        """Read up to the file's first bytes: the fields before it, and its file name.
        ``InvalidArgument`` if the form has no file part."""
        while not (self._file_started or self._ended):
            block = next(self._raw, None)
            if block is None:
                raise MalformedPOSTRequest()
            self._write(block)
        if not self._file_started:
            error = InvalidArgument("POST requires exactly one file upload per request.")
            error.details = {"ArgumentName": FILE_FIELD, "ArgumentValue": "0"}
            raise error
        return FormFields(self._fields, self._filename)

    def file(self) -> Iterator[bytes]:
        """The file's bytes (after :meth:`read_fields`). A body that ends before the
        file's closing boundary raises, so a cut-off upload stores nothing."""
        while True:
            if self._pending:
                chunks, self._pending = self._pending, []
                yield from chunks
            if self._file_done:
                break
            block = next(self._raw, None)
            if block is None:
                raise MalformedPOSTRequest("The body of your POST request ended before the file.")
            self._write(block)
        self._drop_the_rest()

    def _write(self, block: bytes) -> None:
        try:
            self._parser.write(block)
        except FormParserError:
            raise MalformedPOSTRequest() from None

    def _drop_the_rest(self) -> None:
        """Read what follows the file (a submit button's field, the closing boundary)
        so the client gets its answer on a connection it has finished sending on; a long
        tail is left unread."""
        dropped = 0
        while not self._ended and dropped <= _TRAILER_BYTES:
            block = next(self._raw, None)
            if block is None:
                return
            dropped += len(block)
            try:
                self._parser.write(block)
            except FormParserError:
                return  # what follows the file does not count

    # --- the parser's callbacks --------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition, parameters = parse_options_header(self._headers.get(b"content-disposition"))
        name = parameters.get(b"name")
        if name is None:
            raise MalformedPOSTRequest()
        self._name = _text(name)
        self._value.clear()
        if self._file_started:
            self._part = _Part.IGNORED
        elif disposition == b"form-data" and self._name.lower() == FILE_FIELD:
            self._part = _Part.FILE
            self._file_started = True
            filename = parameters.get(b"filename")
            self._filename = None if filename is None else _basename(_text(filename))
        else:
            self._part = _Part.FIELD

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part is _Part.FILE:
            self._pending.append(data if start == 0 and end == len(data) else data[start:end])
        elif self._part is _Part.FIELD:
            self._count(end - start)
            self._value += data[start:end]

    def _on_part_end(self) -> None:
        if self._part is _Part.FIELD:
            self._fields.append((self._name, _text(bytes(self._value))))
        elif self._part is _Part.FILE:
            self._file_done = True
            self._part = _Part.IGNORED

    def _on_end(self) -> None:
        self._ended = True

    def _count(self, size: int) -> None:
        if self._file_started:
            return
        self._fields_bytes += size
        if self._fields_bytes > self._max_fields_bytes:
            raise MaxPostPreDataLengthExceeded(self._max_fields_bytes)


def _text(raw: bytes) -> str:
    """Form names and values are UTF-8, as S3 requires."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPOSTRequest("The form and its fields must be UTF-8.") from None


def _basename(filename: str) -> str:
    """S3 uses what follows the last ``/`` or ``\\`` of a path a browser sends."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1]
