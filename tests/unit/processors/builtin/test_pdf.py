"""``pdf.split``: one PDF per page, and refused PDFs (encrypted, broken, too many pages).

Every PDF is generated here with pypdf.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import ValidationError
from pypdf import PdfReader, PdfWriter

from chute.errors import Reject
from chute.processors.base import Context, local_context
from chute.processors.builtin.pdf import split_pages
from chute.processors.registry import ProcessorSpec, get_processor


def _pdf(pages: int, *, user_password: str | None = None, owner_password: str = "o") -> bytes:
    writer = PdfWriter()
    for page in range(pages):
        writer.add_blank_page(width=100 + page, height=200)
    if user_password is not None:
        writer.encrypt(user_password, owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _split(source: bytes, **options: Any) -> Context:
    spec: ProcessorSpec = get_processor("pdf.split")
    ctx = local_context(
        source,
        key="docs/report.pdf",
        content_type="application/pdf",
        options=spec.parse_options(options),
        output_template=spec.output_template,
    )
    try:
        split_pages(ctx)
    finally:
        ctx.close()
    return ctx


def _rejected(source: bytes, **options: Any) -> str:
    with pytest.raises(Reject) as caught:
        _split(source, **options)
    return caught.value.message


def test_registered_with_its_defaults() -> None:
    spec = get_processor("pdf.split")
    assert spec.output_template == "{stem}.pages/{page}.pdf"
    assert spec.parse_options({}).max_pages == 10_000
    with pytest.raises(ValidationError):
        spec.parse_options({"max_pages": 0})


def test_each_page_becomes_a_pdf_of_its_own() -> None:
    ctx = _split(_pdf(3))
    assert [o.key for o in ctx.outputs] == [f"docs/report.pages/000{n}.pdf" for n in (1, 2, 3)]
    widths = []
    for output in ctx.outputs:
        reader = PdfReader(io.BytesIO(output.data or b""))
        assert len(reader.pages) == 1
        widths.append(float(reader.pages[0].mediabox.width))
        assert output.content_type == "application/pdf"
    assert widths == [100, 101, 102]
    assert ctx.report == {"pages": 3}


def test_pages_growing_past_max_growth_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each page carries what it uses: a PDF whose pages share big resources could write
    # them once per page. The budget is max_growth times its size (64 MiB at least).
    from chute.processors.builtin import pdf

    monkeypatch.setattr(pdf, "MIN_BUDGET", 0)
    message = _rejected(_pdf(4), max_growth=0.01)
    assert message.startswith("the pages of the PDF take more than ")
    assert "by page 1 (max_growth 0.01 times its size)" in message


def test_a_pdf_with_only_an_owner_password_is_split() -> None:
    assert len(_split(_pdf(2, user_password="")).outputs) == 2


def test_a_pdf_needing_a_password_is_rejected() -> None:
    assert "password" in _rejected(_pdf(2, user_password="secret"))


def test_more_pages_than_max_pages_is_rejected_with_the_count() -> None:
    assert _rejected(_pdf(4), max_pages=3) == "the PDF has 4 pages, more than max_pages (3)"


@pytest.mark.parametrize(
    "body", [b"", b"not a pdf at all", b"%PDF-1.7\n1 0 obj\n<<", _pdf(2)[:200]]
)
def test_a_broken_pdf_is_rejected(body: bytes) -> None:
    assert _rejected(body).startswith("not a readable PDF")
