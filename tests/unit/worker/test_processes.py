"""The pool reads worker answers straight off the pipe: whole messages, in order, never
waiting, whatever the sizes and however the bytes arrive."""

from __future__ import annotations

import multiprocessing
import pickle
import socket
import struct
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import pytest

from chute.worker.processes import READ_SIZE, MessageReader


@pytest.fixture
def pipe() -> Iterator[tuple[MessageReader, Connection]]:
    """A reader of one end of a pipe, and the other end (a worker's)."""
    ours, theirs = multiprocessing.Pipe()
    reader = MessageReader(ours)
    yield reader, theirs
    reader.close()
    ours.close()
    theirs.close()


def _read_until(reader: MessageReader, count: int) -> list[Any]:
    found: list[Any] = []
    while len(found) < count:
        found += reader.messages()
    return found


def test_nothing_waiting_reads_nothing_without_blocking(pipe):
    reader, _ = pipe
    assert reader.messages() == []


def test_messages_sent_together_arrive_whole_and_in_order(pipe):
    reader, theirs = pipe
    sent = [("ready", 1), [1, 2, 3], {"big": "x" * 5000}, None]
    for message in sent:
        theirs.send(message)
    assert reader.messages() == sent


def test_a_message_bigger_than_a_read_and_the_pipe_arrives_once_complete(pipe):
    reader, theirs = pipe
    big = b"y" * (3 * READ_SIZE)
    sender = threading.Thread(target=lambda: [theirs.send(big), theirs.send("after")])
    sender.start()
    assert _read_until(reader, 2) == [big, "after"]
    sender.join()


def test_a_message_split_anywhere_is_held_back_until_whole(pipe):
    reader, theirs = pipe
    frame = _frame(pickle.dumps({"answer": 42}))
    raw = socket.socket(fileno=theirs.fileno())
    try:
        raw.sendall(frame[:2])  # inside the header
        assert reader.messages() == []
        raw.sendall(frame[2:7])  # inside the pickle
        assert reader.messages() == []
        raw.sendall(frame[7:])
        assert reader.messages() == [{"answer": 42}]
    finally:
        raw.detach()


def test_the_long_length_header_is_understood(pipe):
    reader, theirs = pipe
    payload = pickle.dumps("long header")
    raw = socket.socket(fileno=theirs.fileno())
    try:
        raw.sendall(struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload)
    finally:
        raw.detach()
    assert reader.messages() == ["long header"]


def test_a_closed_pipe_gives_what_was_complete_then_nothing(pipe):
    reader, theirs = pipe
    theirs.send("last words")
    theirs.close()
    assert reader.messages() == ["last words"]
    assert reader.messages() == []


def _frame(payload: bytes) -> bytes:
    return struct.pack("!i", len(payload)) + payload


def test_an_unreadable_message_stops_the_reading_after_the_good_ones(pipe):
    reader, theirs = pipe
    theirs.send("good")
    raw = socket.socket(fileno=theirs.fileno())
    try:
        raw.sendall(_frame(b"not a pickle"))
    finally:
        raw.detach()
    theirs.send("after")
    assert reader.messages() == ["good"]
    assert reader.broken
    assert reader.messages() == []
