"""Loaders: every supported format gives clean text; bad input raises DocumentError."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ingest.load import decode_text, load, strip_running_lines, unsupported_reason
from tradechat.errors import DocumentError

ROOT = Path(__file__).resolve().parents[2]
PAGE_FURNITURE = ["Subscribe", "Privacy Policy", "window.analytics"]


# --- text and Markdown --------------------------------------------------------------------
def test_txt_keeps_text_verbatim_and_finds_title_and_kind(data_dir):
    path = data_dir / "accord_excerpt.txt"
    doc = load(path, "accord_excerpt.txt")
    assert doc.text == path.read_text(encoding="utf-8")
    assert doc.title == "Harbourline Trade Accord between Northland and Southland (test excerpt)"
    assert doc.kind == "agreement"  # "Article N" lines, no folder hint
    assert doc.pages == [] and doc.encoding_note is None


def test_kind_comes_from_the_folder_first(data_dir):
    assert load(data_dir / "briefing.md", "notes/briefing.md").kind == "note"
    assert load(data_dir / "statute_excerpt.txt", "legislation/s.txt").kind == "legislation"
    assert load(data_dir / "statute_excerpt.txt", "s.txt").kind == "legislation"  # "§" lines
    assert load(data_dir / "accord_excerpt.txt", "articles/a.txt").kind == "article"


def test_markdown_title_without_hashes(data_dir):
    doc = load(data_dir / "briefing.md", "briefing.md")
    assert doc.title == "Harbourline Accord: a briefing"
    assert "### When it happens" in doc.text


def test_title_skips_a_disclaimer_sentence(tmp_path):
    path = tmp_path / "consolidation.txt"
    path.write_text(
        "This consolidation is only for information and should not be relied on as the "
        "authoritative text of the accord in any proceedings.\n\n"
        "Harbourline Accord - Chapter 34 - Final provisions\n\nArticle 34.1: Transition\nText.\n"
    )
    assert (
        load(path, "consolidation.txt").title
        == "Harbourline Accord - Chapter 34 - Final provisions"
    )


# --- HTML -----------------------------------------------------------------------------------
def test_html_keeps_the_article_and_drops_page_furniture(data_dir):
    doc = load(data_dir / "news_page.html", "news_page.html")
    # The site name stays: "According to the Harbour Gazette ..." must match the title.
    assert doc.title == "Northland and Southland agree to talk tariffs - The Harbour Gazette"
    assert doc.kind == "article"
    assert doc.text.startswith("# Northland and Southland agree to talk tariffs\n")
    assert "## Why the talks matter" in doc.text
    assert "duties each side placed on the other's steel" in doc.text
    assert "gives both governments a deadline" in doc.text
    for junk in [
        *PAGE_FURNITURE,
        "Advertisement",
        "Ten harbours",
        "cookies",
        "Copyright",
        "Business",
        "tracker.js",
        "font-family",
        "newsletter",
    ]:
        assert junk not in doc.text, junk


def test_shared_corpus_web_pages_lose_navigation_ads_scripts_and_footer(shared_corpus):
    pages = sorted((shared_corpus / "articles").glob("*.html"))
    assert pages, "no .html page in ../shared/corpus/articles"
    for path in pages:
        raw = path.read_text(encoding="utf-8", errors="replace")
        assert any(junk in raw for junk in PAGE_FURNITURE)  # the page really has furniture
        doc = load(path, f"articles/{path.name}")
        for junk in PAGE_FURNITURE:
            assert junk not in doc.text, f"{path.name}: {junk!r} survived"
        assert len(doc.text) > 2000, f"{path.name}: the article body was lost"
        assert doc.text.startswith("# ")  # the headline, as a heading


# --- PDF ------------------------------------------------------------------------------------
def test_pdf_text_per_page_with_running_header_and_footer_removed(tmp_path, pdf_maker):
    pages = [
        ["Article 1: Scope", "This text applies to goods of both Parties."],
        ["Article 2: Duties", "No Party may raise a duty on an originating good."],
        ["Article 3: Review", "The Parties review this text every six years."],
    ]
    path = pdf_maker(tmp_path / "accord.pdf", pages, title="Accord text")
    doc = load(path, "accord.pdf")
    assert doc.title == "Accord text"
    assert [p.page for p in doc.pages] == [1, 2, 3]
    assert "HARBOURLINE ACCORD" not in doc.text
    assert "unofficial copy" not in doc.text and not re.search(r"Page \d", doc.text)
    for number, lines in enumerate(pages, start=1):
        for line in lines:
            offset = doc.text.index(line)
            assert doc.page_at(offset) == number
    spans = doc.pages
    assert spans[0].start == 0 and spans[-1].end == len(doc.text)
    assert all(a.end == b.start for a, b in zip(spans, spans[1:], strict=False))


def test_two_page_pdf_loses_its_footer_but_keeps_repeated_content(tmp_path, pdf_maker):
    pages = [
        [
            "Vehicle rules",
            "The Parties agree to consult.",
            "Steel must be bought locally.",
            "A repeated clause: duties stay at zero.",
            "End of the first page text.",
        ],
        [
            "Labour rules",
            "Wages are checked each year.",
            "The Parties agree to consult.",
            "A repeated clause: duties stay at zero.",
            "Last words of the note.",
        ],
    ]
    path = pdf_maker(
        tmp_path / "note.pdf",
        pages,
        header=None,
        footer="Harbourline briefing note on vehicles, page {n}",
    )
    doc = load(path, "note.pdf")
    assert doc.title == "Vehicle rules"  # reportlab's placeholder "untitled" is no title
    assert "Harbourline briefing note" not in doc.text
    assert doc.text.count("The Parties agree to consult.") == 2  # same line, other positions
    assert doc.text.count("A repeated clause: duties stay at zero.") == 2  # mid-page
    assert "Vehicle rules" in doc.text and "Last words of the note." in doc.text


def test_one_page_pdf_keeps_every_line(tmp_path, pdf_maker):
    path = pdf_maker(
        tmp_path / "one.pdf",
        [["Short note", "It has one page."]],
        header="Harbourline memo",
        footer=None,
    )
    doc = load(path, "one.pdf")
    assert "Harbourline memo" in doc.text and "It has one page." in doc.text


def test_strip_running_lines_leaves_list_markers_and_mid_page_numbers():
    body = "\n".join(f"Body line {i} of the page." for i in range(10))
    pages = [
        f"(a)\nFirst item\n{body}\nTable: 12\n12\n{body}\nThe end",
        f"(a)\nOther item\n{body}\n12\n{body}\nFin",
    ]
    out = strip_running_lines(pages)
    assert out[0].startswith("(a)") and out[1].startswith("(a)")  # no letters: not running
    assert "\n12\n" in out[0]  # a bare number mid-page is content, not a page number


def test_docs_corpus_pdf_footer_is_gone():
    path = ROOT / "docs_corpus" / "usmca_auto_rules_of_origin.pdf"
    doc = load(path, path.name)
    assert len(doc.pages) == 2
    assert "Tradechat briefing note: USMCA auto rules of origin" not in doc.text
    assert not re.search(r"(?m)^\s*Page \d+\s*$", doc.text)
    assert "Regional value content" in doc.text
    assert doc.text.startswith("Rules of Origin for Autos under the USMCA")


def test_shared_corpus_pdf_keeps_ten_pages_without_running_header(shared_corpus):
    path = next((shared_corpus / "agreements").glob("nafta1994_ch20_*.pdf"))
    doc = load(path, f"agreements/{path.name}")
    assert [p.page for p in doc.pages] == list(range(1, 11))
    assert "NORTH AMERICAN FREE TRADE AGREEMENT - CHAPTER TWENTY" not in doc.text
    assert not re.search(r"(?m)^\s*Page \d+\s*$", doc.text)
    assert doc.page_at(doc.text.index("Article 2001:")) == 1
    assert doc.page_at(doc.text.index("Article 2022:")) == 9


# --- DOCX -----------------------------------------------------------------------------------
def test_docx_headings_become_markdown_headings(tmp_path):
    import docx

    path = tmp_path / "guide.docx"
    document = docx.Document()
    document.add_heading("Harbourline Customs Guide", level=0)
    document.add_heading("Claiming preference", level=1)
    document.add_paragraph("An importer states on the entry that the goods originate.")
    document.add_heading("Keeping records", level=2)
    document.add_paragraph("Records are kept for five years.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Certificate of origin"
    table.cell(0, 1).text = "Five years"
    document.save(str(path))

    doc = load(path, "guide.docx")
    assert doc.title == "Harbourline Customs Guide"
    assert doc.text.startswith("# Harbourline Customs Guide\n")
    assert "\n## Claiming preference\n" in doc.text
    assert "\n### Keeping records\n" in doc.text
    assert "Certificate of origin | Five years" in doc.text


# --- bad input ------------------------------------------------------------------------------
def test_unsupported_extensions():
    assert unsupported_reason(Path("table.tsv")) == "unsupported file type '.tsv'"
    assert unsupported_reason(Path("Makefile")) == "unsupported file type '(none)'"
    assert unsupported_reason(Path("NOTE.PDF")) is None


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file (0 bytes)"),
        ("blank.md", b"  \n\n\t\n", "empty file (only whitespace)"),
        ("image.txt", bytes(range(256)) * 8, "binary data, not text"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF", "PDF"),
        ("zip.docx", b"PK\x03\x04 not really a zip archive", "corrupt or unreadable .docx"),
        ("empty.html", b"<html><body><script>x=1</script></body></html>", "no text"),
    ],
)
def test_bad_files_raise_document_error_with_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as err:
        load(path, name)
    assert str(err.value).startswith(f"{name}: ")
    assert reason in str(err.value)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("tariff schedule line\n" * 5000)
    with pytest.raises(DocumentError, match=r"file is 105.0 KB, over the 1.0 KB limit"):
        load(path, "big.txt", max_bytes=1000)
    assert load(path, "big.txt", max_bytes=10**7).text.startswith("tariff")


def test_cp1252_text_is_decoded_with_a_note(tmp_path):
    path = tmp_path / "legacy.txt"
    text = "Duties on café and crème brûlée rose by 5 € – see “Annex 3”.\n"
    path.write_bytes(text.encode("cp1252"))
    doc = load(path, "legacy.txt")
    assert doc.text == text
    assert doc.encoding_note == "not valid UTF-8; decoded as cp1252"


def test_latin1_only_bytes_fall_back_to_latin1():
    # 0x81 is undefined in cp1252: only latin-1 can decode it.
    text, note = decode_text("Zollsatz f\xfcr \x81 Waren".encode("latin-1"), "x.txt")
    assert text == "Zollsatz für \x81 Waren"
    assert note == "not valid UTF-8; decoded as latin-1"


def test_utf8_with_bom_and_crlf_is_clean(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffLine one\r\nLine two\r\n".encode())
    doc = load(path, "windows.txt")
    assert doc.text == "Line one\nLine two\n" and doc.encoding_note is None


def test_a_folder_named_like_a_document_is_reported(tmp_path):
    folder = tmp_path / "odd.txt"
    folder.mkdir()
    with pytest.raises(DocumentError, match="cannot read file"):
        load(folder, "odd.txt")


def test_copy_of_shared_pdf_with_its_bytes_cut_is_corrupt(tmp_path, shared_corpus):
    src = next((shared_corpus / "agreements").glob("*.pdf"))
    cut = tmp_path / "cut.pdf"
    shutil.copy(src, cut)
    cut.write_bytes(cut.read_bytes()[:700])
    with pytest.raises(DocumentError, match="PDF"):
        load(cut, "cut.pdf")
