"""``pdf.split``: one PDF per page, the items a Map step then runs one job on each.

Pages are copied with pypdf, each with the resources it uses (fonts, images), so a page
file stands alone. A PDF that needs a password (many are encrypted with an owner password
only, which the empty user password opens: those are split), one pypdf cannot read, or
one with more than ``max_pages`` pages is refused before any page is written; one whose
pages together grow past ``max_growth`` times its size is refused as they are written.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chute.errors import Reject
from chute.processors.base import Context
from chute.processors.registry import processor

#: Bytes of pages any PDF may write, whatever ``max_growth`` says of its size.
MIN_BUDGET = 64 * 1024 * 1024
#: Longest pypdf message kept in a reason.
MESSAGE_CHARS = 200
T = TypeVar("T")


class PdfSplitOptions(BaseModel):
    """Options of ``pdf.split``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Most pages: every page is an output, and a job of the Map after it.
    max_pages: int = Field(default=10_000, ge=1)
    #: Most bytes of pages written, as a multiple of the source's size (and at least
    #: ``MIN_BUDGET``): a page carries every resource it uses, so a small PDF whose pages share
    #: one large image would otherwise write it once per page.
    max_growth: float = Field(default=20.0, gt=0)


@processor("pdf.split", options=PdfSplitOptions, output_template="{stem}.pages/{page}.pdf")
def split_pages(ctx: Context) -> None:
    """Writes each page of a PDF as a PDF of its own, named with ``{page}`` (its number,
    four digits from ``0001``)."""
    from pypdf import PdfReader

    options: PdfSplitOptions = ctx.options or PdfSplitOptions()
    with ctx.path().open("rb") as handle:  # a file handle, so pypdf reads lazily
        reader = _readable(lambda: PdfReader(handle))
        _check_decrypted(reader)
        pages = _readable(lambda: len(reader.pages))
        if pages > options.max_pages:
            raise Reject(f"the PDF has {pages} pages, more than max_pages ({options.max_pages})")
        budget = max(MIN_BUDGET, int(ctx.source.size * options.max_growth))
        written = 0
        for number in range(1, pages + 1):
            data = _readable(partial(_page_pdf, reader, number - 1))
            written += len(data)
            if written > budget:
                raise Reject(
                    f"the pages of the PDF take more than {budget} bytes by page {number} "
                    f"(max_growth {options.max_growth} times its size): they share large "
                    "resources; raise max_growth to split it"
                )
            ctx.write_output(data, content_type="application/pdf", page=f"{number:04d}")
    ctx.report["pages"] = pages


def _check_decrypted(reader: Any) -> None:
    if reader.is_encrypted and not _readable(lambda: reader.decrypt("")):
        raise Reject("the PDF is encrypted: a password is needed to read it")


def _page_pdf(reader: Any, index: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_page(reader.pages[index])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _readable(read: Callable[[], T]) -> T:
    """What ``read()`` returns; a PDF it cannot read (pypdf raises many kinds of error
    for a broken file) is refused."""
    try:
        return read()
    except Reject:
        raise
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 3] + "..."
        raise Reject(f"not a readable PDF: {message}") from None
