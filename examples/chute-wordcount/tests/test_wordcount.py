"""Tests of ``text.wordcount`` without a server: ``local_context`` runs the processor on
bytes in memory and keeps its outputs in a ``MemorySink``.

Run them from this folder with ``pytest`` (``pyproject.toml`` puts ``src`` on the path).
"""

from __future__ import annotations

import json
from typing import Any

import chute_wordcount
import pytest
from chute_wordcount import wordcount
from pydantic import ValidationError

from chute.processors import Context, Reject, get_processor, local_context

TEXT = "The cat sat.\nThe cat ran!\nA dog, a CAT.\n"


def run(data: bytes, key: str = "notes/pets.txt", **options: Any) -> Context:
    """Run the processor as a pipeline step would: options validated by the processor's
    own model, outputs named by its own key template."""
    spec = get_processor("text.wordcount")
    ctx = local_context(
        data,
        key=key,
        content_type="text/plain",
        options=spec.parse_options(options),
        output_template=spec.output_template,
    )
    spec.func(ctx)
    return ctx


def document(ctx: Context) -> dict[str, Any]:
    """The JSON output the step wrote."""
    [output] = ctx.outputs
    assert output.content_type == "application/json"
    assert output.data is not None
    result: dict[str, Any] = json.loads(output.data)
    return result


def test_registered_under_its_name() -> None:
    assert get_processor("text.wordcount").func is wordcount


def test_counts_and_ranks_words() -> None:
    ctx = run(TEXT.encode())

    assert [output.key for output in ctx.outputs] == ["notes/pets.wordcount.json"]
    result = document(ctx)
    assert (result["lines"], result["words"], result["characters"]) == (3, 10, len(TEXT))
    assert result["source"] == "notes/pets.txt"
    assert result["top"][:3] == [
        {"word": "cat", "count": 3},
        {"word": "a", "count": 2},
        {"word": "the", "count": 2},
    ]
    assert ctx.metadata == {"wordcount": {"lines": 3, "words": 10, "characters": len(TEXT)}}
    assert ctx.report == {"distinct_words": 6}


def test_options_limit_the_ranking() -> None:
    result = document(run(TEXT.encode(), top=2, min_length=3))

    assert result["words"] == 10
    assert result["top"] == [{"word": "cat", "count": 3}, {"word": "the", "count": 2}]
    assert document(run(TEXT.encode(), top=0))["top"] == []


def test_punctuation_and_case_do_not_make_another_word() -> None:
    result = document(run("\u201cHello,\u201d she said \u2014 \u00abHELLO!\u00bb".encode()))

    # The lone dash is a word to wc -w, but there is nothing in it to rank.
    assert result["words"] == 5
    assert result["top"] == [
        {"word": "hello", "count": 2},
        {"word": "said", "count": 1},
        {"word": "she", "count": 1},
    ]


def test_unknown_and_out_of_range_options_are_refused() -> None:
    spec = get_processor("text.wordcount")
    with pytest.raises(ValidationError, match="colour"):
        spec.parse_options({"colour": "red"})
    with pytest.raises(ValidationError, match="min_length"):
        spec.parse_options({"min_length": 0})


@pytest.mark.parametrize(
    ("text", "lines"),
    [("one\ntwo\n", 2), ("one\ntwo", 2), ("one\r\ntwo\r\n", 2), ("\n\n", 2), ("x", 1)],
)
def test_a_last_line_without_newline_counts(text: str, lines: int) -> None:
    assert document(run(text.encode()))["lines"] == lines


def test_tiny_chunks_give_the_same_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Multi-byte characters and words cut at every possible place.
    text = "naïve café — Grüße, naïve! " * 5 + "日本語のテキスト end"
    expected = document(run(text.encode()))
    monkeypatch.setattr(chute_wordcount, "CHUNK", 1)

    result = document(run(text.encode()))

    assert result == expected
    assert result["characters"] == len(text)
    assert result["top"][0] == {"word": "naïve", "count": 10}


def test_a_byte_order_mark_is_not_text() -> None:
    result = document(run("\ufeffhello hello".encode()))

    assert result["characters"] == len("hello hello")
    assert result["top"] == [{"word": "hello", "count": 2}]


def test_overlong_tokens_count_but_are_not_ranked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chute_wordcount, "CHUNK", 7)

    result = document(run(b"word " + b"x" * 1000 + b" word"))

    assert result["words"] == 3
    assert result["top"] == [{"word": "word", "count": 2}]


def test_empty_file_is_rejected() -> None:
    with pytest.raises(Reject, match="empty file"):
        run(b"")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"plain text \xff more", "invalid start byte at byte 11"),
        (b"caf\xc3", "unexpected end of data at byte 3"),
        (b"\x89PNG\r\n\x1a\n", "invalid start byte at byte 0"),
    ],
)
def test_bytes_that_are_not_utf8_are_rejected(data: bytes, problem: str) -> None:
    with pytest.raises(Reject, match=f"not UTF-8 text: {problem}"):
        run(data)


@pytest.mark.parametrize("chunk", range(1, 12))
def test_the_offending_byte_is_found_in_any_chunk(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Some chunk sizes cut "é" in two, some cut the bad sequence itself.
    monkeypatch.setattr(chute_wordcount, "CHUNK", chunk)

    with pytest.raises(Reject, match=r"invalid continuation byte at byte 9$"):
        run("ab é ok ".encode() + b"\xc3(")
