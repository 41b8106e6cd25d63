"""Request bodies: streaming them into the blocking object service, their declared length."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Final

import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request

from chute.blobs import BlobReader
from chute.errors import (
    BodyTimeout,
    ClientDisconnected,
    InvalidArgument,
    MaxMessageLengthExceeded,
    MissingContentLength,
)

#: Bodies up to this size are read whole before calling the service (one thread hop);
#: larger ones stream through.
BLOCK: Final = 1024 * 1024
#: The blocks a streamed body is handed to the thread storing it in, and how many are
#: read ahead of it: enough to overlap network and disk, little per upload (about
#: 1 MiB each, so ten parts in flight stay near 10 MiB; twice the block measured the
#: same upload rate and 10 MiB more peak RSS).
STREAM_BLOCK: Final = 256 * 1024
_QUEUE_DEPTH: Final = 2
METADATA_PREFIX: Final = "x-chute-meta-"


class BodyStream:
    """A request body as a blocking iterator of blocks of about :data:`STREAM_BLOCK`,
    for a worker thread.

    An event-loop task reads the socket ahead into a small queue while the worker thread
    hashes and writes the previous blocks, so network and disk work overlap; the queue
    bound keeps memory flat. Iterate it only from a thread started by anyio.
    """

    def __init__(self, request: Request, idle_timeout: float) -> None:
        self._request = request
        self._idle_timeout = idle_timeout
        # Unbounded, so the pump can always deliver its final item; the semaphore bounds
        # the blocks in flight instead.
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._room = asyncio.Semaphore(_QUEUE_DEPTH)
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        final: bytes | BaseException = b""  # end of body
        try:
            await self._read_blocks()
        except ClientDisconnect:
            final = ClientDisconnected()
        except TimeoutError:
            final = BodyTimeout(f"no body bytes for {self._idle_timeout:g} seconds")
        except BaseException as exc:
            final = ClientDisconnected(f"the request body could not be read: {exc!r}")
            raise
        finally:
            # Whatever happens, the worker thread must not wait forever for a next block.
            self._queue.put_nowait(final)

    async def _read_blocks(self) -> None:
        parts: list[bytes] = []
        size = 0
        async for chunk in _with_idle_timeout(self._request.stream(), self._idle_timeout):
            parts.append(chunk)
            size += len(chunk)
            if size >= STREAM_BLOCK:
                await self._room.acquire()
                self._queue.put_nowait(b"".join(parts))
                parts, size = [], 0
        if parts:
            await self._room.acquire()
            self._queue.put_nowait(b"".join(parts))

    async def _next(self) -> bytes | BaseException:
        item = await self._queue.get()
        self._room.release()
        return item

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = anyio.from_thread.run(self._next)
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item

    async def close(self) -> None:
        """Stop reading ahead (the service may have stopped early on an error)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def _with_idle_timeout(
    chunks: AsyncGenerator[bytes, None], seconds: float
) -> AsyncIterator[bytes]:
    """``chunks``, raising ``TimeoutError`` when the next one takes over ``seconds``."""
    try:
        while True:
            try:
                async with asyncio.timeout(seconds):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        await chunks.aclose()


async def read_small_body(request: Request, seconds: float, limit: int) -> bytes:
    """The whole body of a request that is not an object's bytes (JSON, XML), or of a
    small upload, within ``seconds`` (408 for a stalled client) and at most ``limit``
    bytes: 400 ``MaxMessageLengthExceeded`` at once if ``Content-Length`` says more, and
    as soon as a chunked body passes it, so no more than ``limit`` bytes are ever held."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MaxMessageLengthExceeded(_too_big(int(declared), limit))
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise MaxMessageLengthExceeded(_too_big(size, limit, more=True))
                parts.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected() from None
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {seconds:g} seconds") from None
    return b"".join(parts)


def _too_big(size: int, limit: int, *, more: bool = False) -> str:
    over = "over " if more else ""
    return f"the request body is {over}{size} bytes; the limit is {limit}"


class SmallBodyRequest(Request):
    """A request whose :meth:`body` (and so ``json()``) is read by
    :func:`read_small_body`: for frameworks that read a whole body themselves."""

    def __init__(self, request: Request, seconds: float, limit: int) -> None:
        super().__init__(request.scope, request.receive)
        self._seconds = seconds
        self._limit = limit
        self._small_body: bytes | None = None

    async def body(self) -> bytes:
        if self._small_body is None:
            self._small_body = await read_small_body(self, self._seconds, self._limit)
        return self._small_body


async def stream_reader(reader: BlobReader) -> AsyncIterator[bytes]:
    """Yield a blob reader's chunks, read in worker threads; the reader is closed however
    the response ends (finished, failed, or the client went away)."""
    try:
        while (chunk := await anyio.to_thread.run_sync(next, reader, None)) is not None:
            yield chunk
    finally:
        reader.close()


def content_length(request: Request) -> int | None:
    """The declared body length; ``None`` for a chunked body; 411 when neither is given."""
    value = request.headers.get("content-length")
    if value is None:
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return None
        raise MissingContentLength()
    if not value.isdigit():
        raise InvalidArgument("Content-Length must be a non-negative integer")
    return int(value)
