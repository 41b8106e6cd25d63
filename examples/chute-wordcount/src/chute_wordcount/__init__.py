"""``text.wordcount``: line, word and character counts of a text file, and its top words.

A worked example of a Chute processor package. What a processor author needs to know:

- A processor is a function of one :class:`~chute.processors.Context`, registered under a
  name with :func:`~chute.processors.processor`. The ``chute.processors`` entry point in
  ``pyproject.toml`` is how an installed package's names become known to Chute, with no
  Chute setting to change: the registry imports the module the first time it looks any
  processor name up.
- Options are a pydantic model. Chute checks every step's ``options`` against it when it
  starts, so a typo in chute.toml stops the start instead of failing jobs later.
- Read the source with ``ctx.open()``, in chunks: an object may be larger than memory.
  (``ctx.path()`` gives a local file instead, for libraries that need one.)
- Results go back three ways: outputs (``ctx.write_output``, stored in the pipeline's output
  bucket under the step's key template), ``ctx.metadata`` (merged into the source version's
  record in the catalog) and ``ctx.report`` (kept with the step's attempt, beside the
  list of outputs Chute adds to it).
- Outputs are staged and recorded only when the function returns: raising part-way leaves
  none behind, and since output keys are deterministic a rerun replaces the last run's.
- Raise :class:`~chute.processors.Reject` when the input itself is wrong: no attempt could
  succeed, so the job is dead at once, with your reason. Raise
  :class:`~chute.processors.Retry` (``Retry(delay=30)``) for trouble that may pass, such as
  a remote service being down. Any other exception is a failure that the step's ``retry``
  settings retry. This processor never needs ``Retry``: its only input is the object.

Words are counted as ``wc -w`` counts them, as runs of non-whitespace. For the ranking
each is stripped of surrounding punctuation and case-folded ("The," and "the" are one).
Memory grows with the vocabulary of the text, never with the size of the file.
"""

from __future__ import annotations

import codecs
import heapq
import json
import string
from collections import Counter
from collections.abc import Iterator
from typing import IO

from pydantic import BaseModel, ConfigDict, Field

from chute.processors import Context, Reject, processor

#: Bytes read from the source at a time.
CHUNK = 1024 * 1024
#: Longer tokens (hashes, base64, minified code) count as words but are never ranked.
MAX_WORD_LENGTH = 64
#: Stripped from both ends of a token before it is ranked: ASCII punctuation, typographic
#: quotes, guillemets, the ellipsis and dashes.
PUNCTUATION = string.punctuation + "\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb\u2026\u2013\u2014"


class WordcountOptions(BaseModel):
    """Options of ``text.wordcount``: a step's ``options`` table in chute.toml."""

    # An unknown option is a mistake worth stopping the start for.
    model_config = ConfigDict(extra="forbid")

    #: How many of the most frequent words the output lists (0: none).
    top: int = Field(default=10, ge=0, le=1000)
    #: Shorter words are counted but not ranked (2 leaves out "a" and "I").
    min_length: int = Field(default=1, ge=1, le=MAX_WORD_LENGTH)


@processor("text.wordcount", options=WordcountOptions, output_template="{stem}.wordcount.json")
def wordcount(ctx: Context) -> None:
    """Count the lines, words and characters of a UTF-8 text object and rank its words.

    Writes one JSON document (``notes/todo.txt`` gives ``notes/todo.wordcount.json``
    unless the step sets ``output``), records the counts as the source version's
    ``wordcount`` metadata, and reports how many distinct words were ranked. Rejects
    empty objects and objects that are not UTF-8."""
    # The worker always passes validated options; local_context() passes what it is given.
    options = ctx.options if isinstance(ctx.options, WordcountOptions) else WordcountOptions()
    if ctx.source.size == 0:
        raise Reject("empty file")
    tally = _Tally(options.min_length)
    with ctx.open() as stream:
        for text in _decode_utf8(stream):
            tally.feed(text)
    tally.finish()
    counts = {"lines": tally.lines, "words": tally.words, "characters": tally.characters}
    document = {
        "source": ctx.source.key,
        "version": ctx.source.version_id,
        "bytes": ctx.source.size,
        **counts,
        "top": [{"word": word, "count": count} for word, count in tally.top(options.top)],
    }
    ctx.write_output(
        json.dumps(document, ensure_ascii=False, indent=2).encode(), content_type="application/json"
    )
    # Metadata is merged, top-level key by key, with what other steps record for the
    # same version: a plug-in keeps its fields under one key of its own.
    ctx.metadata["wordcount"] = counts
    ctx.report["distinct_words"] = len(tally.ranked)


def _decode_utf8(stream: IO[bytes]) -> Iterator[str]:
    """The stream's text, a piece per chunk read, without a leading byte order mark.

    The incremental decoder holds back a character split between two chunks until the
    next chunk completes it. Raises ``Reject`` naming the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = 0
    at_start = True
    while True:
        chunk = stream.read(CHUNK)
        held = len(decoder.getstate()[0])  # the start of a character the last chunk cut
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            offset = read - held + exc.start
            raise Reject(f"not UTF-8 text: {exc.reason} at byte {offset}") from None
        read += len(chunk)
        if at_start and text:
            text, at_start = text.removeprefix("\ufeff"), False
        if text:
            yield text
        if not chunk:
            return


class _Tally:
    """Counts over text fed in pieces; a word cut by the end of a piece waits for the next."""

    def __init__(self, min_length: int) -> None:
        self.min_length = min_length
        self.lines = 0
        self.words = 0
        self.characters = 0
        #: Occurrences of each word that qualifies for the ranking.
        self.ranked: Counter[str] = Counter()
        self._partial = ""
        self._ends_line = True

    def feed(self, text: str) -> None:
        """Count one piece of the text (not empty)."""
        self.characters += len(text)
        self.lines += text.count("\n")
        self._ends_line = text.endswith("\n")
        tokens = (self._partial + text).split()
        self._partial = ""
        if not text[-1].isspace():
            # Past MAX_WORD_LENGTH only the length matters, which keeps a file without
            # whitespace from filling memory.
            self._partial = tokens.pop()[: MAX_WORD_LENGTH + 1]
        self._count(tokens)

    def finish(self) -> None:
        """Count the last word, and a last line that has no newline."""
        self._count([self._partial] if self._partial else [])
        self._partial = ""
        if self.characters and not self._ends_line:
            self.lines += 1

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most frequent words, ties in alphabetical order (stable output)."""
        return heapq.nsmallest(n, self.ranked.items(), key=lambda item: (-item[1], item[0]))

    def _count(self, tokens: list[str]) -> None:
        self.words += len(tokens)
        words = (t.strip(PUNCTUATION).casefold() for t in tokens if len(t) <= MAX_WORD_LENGTH)
        self.ranked.update(word for word in words if len(word) >= self.min_length)
