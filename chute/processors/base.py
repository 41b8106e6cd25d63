"""What a processor is given and how it hands back results.

A processor is a function of one :class:`Context` (or, for a batch processor, a list of
them). The context gives it the source object (as a stream, or as a local file when a
library needs a path), the S3 event record that triggered it, its validated options,
an output writer and a logger; a step that joins a Map gets the Map's results as
:attr:`Context.items`, in order. Outputs are staged by an :class:`OutputSink` and recorded
in the catalog only when the whole step succeeds, so a failed or repeated attempt never
leaves a partial set of outputs behind.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from chute.blobs.base import Digests
from chute.catalog.records import NewFunctionLog
from chute.errors import InvalidKey, ProcessingError
from chute.jobs import SourceObject, StagedOutput
from chute.names import NULL_VERSION, check_key

#: Bytes per read or write when streaming inputs and outputs.
CHUNK = 1024 * 1024


class OutputSink(Protocol):
    """Stores output bytes durably and describes them (the worker's sink writes to the
    blob store; :class:`MemorySink` keeps them in memory for tests)."""

    def write(
        self, key: str, content_type: str, chunks: Iterable[bytes], metadata: dict[str, str]
    ) -> StagedOutput: ...

    def discard(self, outputs: list[StagedOutput]) -> None:
        """Drop outputs of an attempt that will not be recorded."""


class Input(Protocol):
    """The source object's bytes."""

    def open(self) -> IO[bytes]:
        """A fresh binary stream over the whole object."""

    def path(self) -> Path | None:
        """A local file holding the bytes, if there already is one (else ``None``)."""


class Item:
    """One result of a Map's items, handed in order to the step that joins the Map (or
    one file a splitter wrote, to each job of the Map over it): a file the run keeps for
    its steps, never an object in a bucket."""

    def __init__(
        self,
        *,
        index: int,
        key: str,
        size: int,
        content_type: str,
        source_input: Input,
        scratch: Callable[[], Path],
        metadata: dict[str, str] | None = None,
        step: str = "",
    ) -> None:
        #: Its place among the items, from 0.
        self.index = index
        #: The step that produced it (the Map it is a result of, or the splitter).
        self.step = step
        #: The key its step gave it (the output key the step's template gave).
        self.key = key
        self.size = size
        self.content_type = content_type
        #: The metadata its step wrote with it (``write_output(..., metadata=...)``).
        self.metadata = metadata or {}
        self._input = source_input
        self._scratch = scratch

    def open(self) -> IO[bytes]:
        """The item's bytes as a binary stream."""
        return self._input.open()

    def path(self) -> Path:
        """The item's bytes as a local file (downloaded to the step's scratch folder
        first if they are not on local disk already). Treat it as read-only."""
        suffix = PurePosixPath(self.key).suffix[:16]
        return local_file(self._input, lambda: self._scratch() / f"item-{self.index}{suffix}")

    def __repr__(self) -> str:
        return f"Item({self.index}, {self.key!r}, {self.size} bytes)"


@dataclass(frozen=True, slots=True)
class ItemSource:
    """What a context is given for each item: what it is, where its bytes are, and the
    Map step whose result it is (a step joining two Maps tells theirs apart)."""

    key: str
    size: int
    content_type: str
    metadata: dict[str, str]
    input: Input
    step: str = ""


class Context:
    """Everything one job's processor gets; see the module docstring."""

    def __init__(
        self,
        *,
        source: SourceObject,
        source_input: Input,
        sink: OutputSink,
        options: Any = None,
        event: dict[str, Any] | str | None = None,
        output_template: str = "{key}",
        pipeline: str = "",
        step: str = "",
        attempt: int = 1,
        logger: logging.Logger | None = None,
        payload: dict[str, Any] | None = None,
        items: Sequence[ItemSource] = (),
        item_index: int | None = None,
    ) -> None:
        #: The object the job processes; in a job of a Map, the item it runs on (its key
        #: is the one the splitter gave it, its bytes are what :meth:`open` reads).
        self.source = source
        self.options = options
        self._event = event or {}
        self.pipeline = pipeline
        self.step = step
        self.attempt = attempt
        #: What the job was queued with, beyond the object (a notification: its message).
        self.payload = payload or {}
        self.log = logger or logging.getLogger(f"chute.processor.{step or 'local'}")
        self.output_template = output_template
        self.outputs: list[StagedOutput] = []
        #: Metadata to store on the source version in the catalog (``meta.extract``).
        self.metadata: dict[str, Any] = {}
        #: A step's own findings (e.g. a validation summary), kept with its step run.
        self.report: dict[str, Any] = {}
        #: Logs of function invocations the step made, kept in the catalog's function
        #: logs when the attempt is recorded, whether it succeeded or not.
        self.function_logs: list[NewFunctionLog] = []
        self._input = source_input
        self._sink = sink
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        #: In a job of a Map, the place of its item among the Map's items (from 0).
        self.item_index = item_index
        #: In a step that joins a Map (one whose ``needs`` name a Map step), the Map's
        #: results in the order of its items; empty otherwise.
        self.items = [
            Item(
                index=index,
                key=item.key,
                size=item.size,
                content_type=item.content_type,
                metadata=item.metadata,
                source_input=item.input,
                scratch=self.temp_dir,
                step=item.step,
            )
            for index, item in enumerate(items)
        ]

    @property
    def event(self) -> dict[str, Any]:
        """The S3 event record (one element of ``Records``) that triggered the job
        (given as JSON text, it is decoded on first use: most processors never look)."""
        event = self._event
        if isinstance(event, str):
            event = self._event = json.loads(event)
        return event

    @event.setter
    def event(self, value: dict[str, Any]) -> None:
        self._event = value

    # --- input ---------------------------------------------------------------------

    def open(self) -> IO[bytes]:
        """The source bytes as a binary stream (read it in chunks; it may be large)."""
        return self._input.open()

    def path(self) -> Path:
        """The source bytes as a local file, downloaded first if they are not on local
        disk already. Treat the file as read-only."""
        suffix = PurePosixPath(self.source.key).suffix[:16]
        return local_file(self._input, lambda: self.temp_dir() / f"source{suffix}")

    def temp_dir(self) -> Path:
        """A scratch folder removed when the attempt ends."""
        if self._tempdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="chute-step-")
        return Path(self._tempdir.name)

    # --- outputs -------------------------------------------------------------------

    def output_key(self, **variables: Any) -> str:
        """The key an output with these template variables gets: deterministic for a
        (source version, step), so a rerun replaces its outputs instead of adding more."""
        values = {"pipeline": self.pipeline, "step": self.step, **self.source.template_vars()}
        values.update({name: str(value) for name, value in variables.items()})
        try:
            key = self.output_template.format_map(values)
        except KeyError as exc:
            raise ProcessingError(
                f"output template {self.output_template!r} uses {{{exc.args[0]}}}, "
                f"which is not one of: {', '.join(sorted(values))}"
            ) from None
        except (ValueError, IndexError) as exc:
            raise ProcessingError(f"output template {self.output_template!r}: {exc}") from None
        key = key.lstrip("/")
        try:
            check_key(key)
        except InvalidKey as exc:
            raise ProcessingError(
                f"output template {self.output_template!r} gave an invalid key: {exc.message}"
            ) from None
        return key

    def write_output(
        self,
        data: bytes | Path | Iterable[bytes],
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        **variables: Any,
    ) -> str:
        """Stage one output (bytes, a local file, or chunks) under the key the step's
        template gives for ``variables``; returns that key."""
        key = self.output_key(**variables)
        if any(output.key == key for output in self.outputs):
            raise ProcessingError(
                f"two outputs of step {self.step!r} got the key {key!r}: its template "
                f"{self.output_template!r} must tell them apart (variables: {sorted(variables)})"
            )
        chunks: Iterable[bytes]
        if isinstance(data, bytes):
            chunks = [data]
        elif isinstance(data, Path):
            chunks = _file_chunks(data)
        else:
            chunks = data
        self.outputs.append(self._sink.write(key, content_type, chunks, metadata or {}))
        return key

    @contextmanager
    def open_output(
        self, *, content_type: str, metadata: dict[str, str] | None = None, **variables: Any
    ) -> Iterator[IO[bytes]]:
        """A writable file for one output, staged when the block exits without error."""
        with tempfile.NamedTemporaryFile(dir=self.temp_dir(), delete=False) as handle:
            yield handle
        self.write_output(
            Path(handle.name), content_type=content_type, metadata=metadata, **variables
        )

    def discard_outputs(self) -> None:
        """Drop the outputs staged so far (the attempt failed: none will be recorded)."""
        self._sink.discard(self.outputs)
        self.outputs = []

    def close(self) -> None:
        """Remove scratch files (the worker calls this after every attempt)."""
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def local_file(source_input: Input, target: Callable[[], Path]) -> Path:
    """``source_input``'s bytes as a local file: its own, or a copy at ``target()``
    (made once; a scratch path, asked for only when a copy is needed)."""
    existing = source_input.path()
    if existing is not None:
        return existing
    copy = target()
    if not copy.exists():
        with source_input.open() as stream, copy.open("wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
    return copy


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


# --- local implementations (tests, examples, `chute run-processor`) ------------------------


class FileInput:
    """An input that is already a local file."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def open(self) -> IO[bytes]:
        return self.file.open("rb")

    def path(self) -> Path | None:
        return self.file


class BytesInput:
    """An input held in memory (small objects, tests)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> IO[bytes]:
        import io

        return io.BytesIO(self.data)

    def path(self) -> Path | None:
        return None


class MemorySink:
    """Keeps outputs in memory; tests read them back from :attr:`files`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write(
        self, key: str, content_type: str, chunks: Iterable[bytes], metadata: dict[str, str]
    ) -> StagedOutput:
        data = b"".join(chunks)
        self.files[key] = data
        info = Digests(data).info("")
        return StagedOutput(
            key=key,
            content_type=content_type,
            size=info.size,
            md5=info.md5,
            sha256=info.sha256,
            data=data,
            metadata=dict(metadata),
        )

    def discard(self, outputs: list[StagedOutput]) -> None:
        for output in outputs:
            self.files.pop(output.key, None)


def local_context(
    file: Path | bytes,
    *,
    key: str = "input",
    content_type: str = "application/octet-stream",
    options: Any = None,
    output_template: str = "{key}",
    sink: MemorySink | None = None,
    step: str = "local",
    items: Sequence[tuple[str, bytes | Path, str, dict[str, str]]] = (),
    metadata: dict[str, str] | None = None,
    item_index: int | None = None,
) -> Context:
    """A context over a local file or bytes, with a :class:`MemorySink` (for tests and
    for trying a processor without a server). ``items`` are what a joining step gets, as
    (key, bytes or file, content type, metadata); ``metadata`` is the source's, and
    ``item_index`` makes the source an item of a Map."""
    data = file.read_bytes() if isinstance(file, Path) else file
    info = Digests(data).info("")
    source = SourceObject(
        bucket="local",
        key=key,
        version_id=NULL_VERSION,
        size=info.size,
        etag=info.md5,
        sha256=info.sha256,
        content_type=content_type,
        md5=info.md5,
        user_metadata=dict(metadata or {}),
    )
    source_input: Input = FileInput(file) if isinstance(file, Path) else BytesInput(data)
    return Context(
        source=source,
        source_input=source_input,
        sink=sink or MemorySink(),
        options=options,
        output_template=output_template,
        step=step,
        items=[
            ItemSource(
                item_key,
                len(body) if isinstance(body, bytes) else body.stat().st_size,
                item_type,
                item_metadata,
                BytesInput(body) if isinstance(body, bytes) else FileInput(body),
            )
            for item_key, body, item_type, item_metadata in items
        ],
        item_index=item_index,
    )
