"""Fixtures for the ingestion tests: tiny real documents in every supported format.

The text files live in tests/data/ (written for these tests); the PDF and the .docx are
built here with reportlab and python-docx, so that the repository holds no binary blobs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"

PDF_HEADER = "HARBOURLINE ACCORD - CONSOLIDATED TEXT"
PDF_FOOTER = "Harbourline Accord, unofficial copy - Page {n} of {total}"


def make_pdf(
    path: Path,
    pages: list[list[str]],
    header: str | None = PDF_HEADER,
    footer: str | None = PDF_FOOTER,
    title: str | None = None,
) -> Path:
    """Write a real PDF: one list of text lines per page, with a running header/footer.

    ``{n}`` and ``{total}`` in the header/footer become the page number and page count.
    """
    from reportlab.lib.pagesizes import LETTER
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=LETTER, invariant=1)
    if title:
        c.setTitle(title)
    width, height = LETTER
    total = len(pages)
    for n, lines in enumerate(pages, start=1):
        if header:
            c.drawString(72, height - 40, header.format(n=n, total=total))
        y = height - 90
        for line in lines:
            c.drawString(72, y, line)
            y -= 16
        if footer:
            c.drawString(72, 40, footer.format(n=n, total=total))
        c.showPage()
    c.save()
    return path


ACCORD_PDF_PAGES = [
    [
        "Harbourline Accord: Dispute Settlement",
        "Article 2001: The Joint Commission",
        "1. The Parties set up a Joint Commission made up of their trade ministers.",
        "2. The Commission oversees how the Accord is carried out and settles",
        "disputes about its meaning.",
    ],
    [
        "Article 2002: Consultations",
        "1. Either Party may ask in writing for consultations about any measure",
        "that it thinks breaks the Accord.",
        "2. The Parties shall try hard to reach an agreed solution within thirty days.",
    ],
    [
        "Article 2003: Panels",
        "1. When consultations fail, either Party may ask for a panel of five experts.",
        "2. The panel reports within ninety days of its last member being chosen.",
    ],
]


def make_docx(path: Path) -> Path:
    """Write a real .docx with a title, two heading levels, paragraphs and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Harbourline Customs Guide", level=0)
    document.add_paragraph("This guide explains how traders claim the Accord's lower duties.")
    document.add_heading("Claiming preference", level=1)
    document.add_paragraph(
        "An importer claims the lower duty by stating on the entry that the goods originate."
    )
    document.add_heading("Keeping records", level=2)
    document.add_paragraph("Records that support a claim are kept for five years after import.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Document"
    table.cell(0, 1).text = "Retention"
    table.cell(1, 0).text = "Certificate of origin"
    table.cell(1, 1).text = "Five years"
    document.save(str(path))
    return path


@pytest.fixture
def data_dir() -> Path:
    """tests/data (read only: copy files out before changing them)."""
    return DATA


@pytest.fixture
def pdf_maker() -> Callable[..., Path]:
    return make_pdf


@pytest.fixture
def text_corpus(tmp_path) -> Path:
    """A small folder of text documents (txt, md, html) in kind-named subfolders."""
    root = tmp_path / "corpus"
    for sub, name in [
        ("agreements", "accord_excerpt.txt"),
        ("legislation", "statute_excerpt.txt"),
        ("legislation", "act_excerpt.txt"),
        ("notes", "briefing.md"),
        ("articles", "news_page.html"),
    ]:
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / name, root / sub / name)
    return root


@pytest.fixture
def full_corpus(text_corpus) -> Path:
    """``text_corpus`` plus a three-page PDF and a .docx."""
    make_pdf(
        text_corpus / "agreements" / "dispute_settlement.pdf",
        ACCORD_PDF_PAGES,
        title="Harbourline Accord: Dispute Settlement",
    )
    make_docx(text_corpus / "customs_guide.docx")
    return text_corpus
