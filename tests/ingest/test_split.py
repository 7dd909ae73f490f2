"""Structure-aware splitting: headings, metadata, offsets and the model's token limit."""

from __future__ import annotations

import hashlib
import random
import re

import pytest

from ingest.load import load
from ingest.models import LoadedDocument
from ingest.split import parse_heading, split_document

MAX_TOKENS = 256


@pytest.fixture(scope="module")
def model_tokens(encoder):
    """Word pieces as the model itself counts them, [CLS] and [SEP] included, untruncated."""
    tokenizer = encoder.model.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    return count


def split(doc: LoadedDocument, encoder, **kwargs):
    return split_document(doc, encoder.count_tokens, max_tokens=encoder.max_tokens, **kwargs)


def by_section(chunks, section_id):
    found = [c for c in chunks if c.meta.section_id == section_id]
    assert found, f"no chunk for {section_id}: {[c.meta.section_id for c in chunks]}"
    return found


# --- headings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "level", "ident", "text"),
    [
        ("Article 2205: Withdrawal", "section", "Article 2205", "Withdrawal"),
        (
            "Article 34.1:  Transitional Provision from NAFTA 1994",
            "section",
            "Article 34.1",
            "Transitional Provision from NAFTA 1994",
        ),
        ("ARTICLE 5. Definitions", "section", "Article 5", "Definitions"),
        ("Article 12", "section", "Article 12", None),
        (
            "§ 4611. Participation in joint review",
            "section",
            "§ 4611",
            "Participation in joint review",
        ),
        ("§ 4612.", "section", "§ 4612", None),
        ("Annex 401: Specific Rules of Origin", "section", "Annex 401", "Specific Rules of Origin"),
        ("ANNEX 300-A", "section", "Annex 300-A", None),
        ("Annex I", "section", "Annex I", None),
        (
            "Chapter Twenty Two: Final Provisions",
            "chapter",
            "Chapter Twenty Two",
            "Final Provisions",
        ),
        ("CHAPTER 4", "chapter", "Chapter 4", None),
        ("# Harbourline Accord", "chapter", None, "Harbourline Accord"),
        ("## The review clause", "section", None, "The review clause"),
        ("### When it happens", "sub", None, "When it happens"),
        ("== Background ==", "section", None, "Background"),
        ("1 Short title", "section", "Section 1", "Short title"),
        # PDF text runs a heading into its first sentence:
        (
            "Article 2003: Cooperation The Parties shall at all times endeavor to agree",
            "section",
            "Article 2003",
            "Cooperation",
        ),
        (
            "Article 2001: The Free Trade Commission 1. The Parties hereby establish the",
            "section",
            "Article 2001",
            "The Free Trade Commission",
        ),
    ],
)
def test_parse_heading_recognises(line, level, ident, text):
    heading = parse_heading(line, prev_blank=True)
    assert heading is not None
    assert (heading.level, heading.ident, heading.text) == (level, ident, text)


@pytest.mark.parametrize(
    "line",
    [
        "Article 607 (Energy) and Article 1018 apply to this Chapter.",
        "Article 34.7 in Chapter 34 (Final Provisions) schedules a joint review on the sixth year.",
        "Article 2012; and",
        "Article 2005(3) or (4), and has received a request",
        "Annex 2106 applies to the Parties specified in that Annex.",
        "Annex 401.1 applies to vehicles.",
        "Chapter 87 vehicles must reach a regional value content of sixty percent.",
        "§ 4532 defines a covered vehicle as a passenger vehicle, a light truck or a heavy truck.",
        "12 The Parties shall consult.",
        "",
    ],
)
def test_parse_heading_rejects_sentences(line):
    assert parse_heading(line, prev_blank=True) is None


def test_act_section_needs_a_blank_line_before_it():
    assert parse_heading("1 Short title", prev_blank=False) is None


# --- structure and metadata -----------------------------------------------------------------
def test_agreement_chunks_carry_chapter_article_and_heading_path(data_dir, encoder):
    doc = load(data_dir / "accord_excerpt.txt", "agreements/accord_excerpt.txt")
    chunks = split(doc, encoder)
    title = "Harbourline Trade Accord between Northland and Southland (test excerpt)"

    (withdrawal,) = by_section(chunks, "Article 2205")
    meta = withdrawal.meta
    assert meta.section_heading == "Withdrawal"
    assert meta.chapter == "Chapter Thirty Four: Final Provisions"
    assert (
        meta.heading_path
        == f"{title} > Chapter Thirty Four: Final Provisions > Article 2205: Withdrawal"
    )
    assert meta.section_label == "Article 2205: Withdrawal"
    assert withdrawal.embed_text == f"{meta.heading_path}\n{withdrawal.text}"
    assert "six months after it gives the other Party written notice" in withdrawal.text
    assert meta.source == "agreements/accord_excerpt.txt" and meta.kind == "agreement"
    assert meta.title == title and meta.page is None

    (transition,) = by_section(chunks, "Article 34.1")
    assert transition.meta.section_heading == "Transitional Provision"
    (annex,) = by_section(chunks, "Annex 401")
    assert annex.meta.chapter == "Chapter Four: Rules of Origin"
    assert "Chapter 87 vehicles" in annex.text  # a sentence, not a new chapter

    # A one-sentence article is its own chunk, not folded into (and labelled as) the next.
    (first,) = by_section(chunks, "Article 101")
    assert "set up a free trade area" in first.text
    assert all("set up a free trade area" not in c.text for c in by_section(chunks, "Article 102"))
    # The chapter heading right above it travels with it instead of standing alone.
    assert first.text.startswith(title) or first.text.startswith("Chapter One")
    assert all(c.text.strip() != "Chapter Four: Rules of Origin" for c in chunks)


def test_statute_sections(data_dir, encoder):
    chunks = split(load(data_dir / "statute_excerpt.txt", "legislation/s.txt"), encoder)
    first = by_section(chunks, "§ 4611")[0]
    assert first.meta.section_heading == "Participation in the joint review"
    assert first.meta.section_label == "§ 4611. Participation in the joint review"
    assert first.meta.kind == "legislation"
    assert "180 days before the review" in " ".join(c.text for c in by_section(chunks, "§ 4611"))
    assert by_section(chunks, "§ 4612")[0].meta.section_heading == "Termination of the Accord"


def test_canadian_act_numbered_sections(data_dir, encoder):
    chunks = split(load(data_dir / "act_excerpt.txt", "legislation/act.txt"), encoder)
    short = by_section(chunks, "Section 1")[0]
    assert short.meta.section_heading == "Short title"
    assert "may be cited as the Harbourline Accord Implementation Act" in short.text
    assert by_section(chunks, "Section 3")[0].meta.section_heading == "Purpose"


def test_markdown_heading_path(data_dir, encoder):
    chunks = split(load(data_dir / "briefing.md", "notes/briefing.md"), encoder)
    when = next(c for c in chunks if "sixth year" in c.text)
    assert (
        when.meta.heading_path
        == "Harbourline Accord: a briefing > The review clause > When it happens"
    )
    assert when.meta.section_heading == "The review clause" and when.meta.chapter is None
    assert when.embed_text.startswith(when.meta.heading_path + "\n")


def test_html_headings(data_dir, encoder):
    chunks = split(load(data_dir / "news_page.html", "articles/news.html"), encoder)
    why = next(c for c in chunks if "building materials" in c.text)
    assert why.meta.section_heading == "Why the talks matter"
    assert why.meta.heading_path.endswith("> Why the talks matter")


def test_docx_headings(tmp_path, encoder):
    import docx

    path = tmp_path / "guide.docx"
    document = docx.Document()
    document.add_heading("Harbourline Customs Guide", level=0)
    document.add_heading("Keeping records", level=1)
    document.add_paragraph("Records that support a claim are kept for five years after import.")
    document.save(str(path))
    (chunk,) = split(load(path, "guide.docx"), encoder)
    assert chunk.meta.heading_path == "Harbourline Customs Guide > Keeping records"
    assert chunk.meta.section_heading == "Keeping records"


def test_pdf_chunks_carry_their_page(tmp_path, pdf_maker, encoder):
    topics = {1: "consultations", 2: "panels", 3: "remedies"}
    pages = [
        [f"Article {n}01: {topics[n].title()}", f"A paragraph about {topics[n]} and duties."]
        for n in (1, 2, 3)
    ]
    doc = load(pdf_maker(tmp_path / "a.pdf", pages), "a.pdf")
    chunks = split(doc, encoder)
    for n in (1, 2, 3):
        (chunk,) = by_section(chunks, f"Article {n}01")
        assert chunk.meta.page == n
        assert f"about {topics[n]} and duties" in chunk.text
    assert all("Page" not in c.text for c in chunks)


def test_pdf_chunks_never_span_pages(tmp_path, pdf_maker, encoder):
    pages = [["Short text on the first page."], ["Short text on the second page."]]
    doc = load(pdf_maker(tmp_path / "b.pdf", pages, header=None, footer=None), "b.pdf")
    chunks = split(doc, encoder)
    assert [(c.meta.page, c.text) for c in chunks] == [
        (1, "Short text on the first page."),
        (2, "Short text on the second page."),
    ]


def test_offsets_hashes_and_ids_are_consistent(data_dir, encoder):
    for name in (
        "accord_excerpt.txt",
        "statute_excerpt.txt",
        "act_excerpt.txt",
        "briefing.md",
        "news_page.html",
    ):
        doc = load(data_dir / name, name)
        chunks = split(doc, encoder, file_hash="f" * 64)
        assert chunks
        for index, chunk in enumerate(chunks):
            meta = chunk.meta
            assert doc.text[meta.start : meta.end] == chunk.text, name
            assert meta.content_hash == hashlib.sha256(chunk.embed_text.encode()).hexdigest()
            assert meta.chunk_index == index and meta.file_hash == "f" * 64
            assert chunk.embed_text == f"{meta.heading_path}\n{chunk.text}"
        assert len({c.meta.chunk_id for c in chunks}) == len(chunks)
        assert len({c.text for c in chunks}) == len(chunks)
        starts = [c.meta.start for c in chunks]
        assert starts == sorted(starts)


def test_ids_survive_an_edit_elsewhere_in_the_document(data_dir, encoder):
    text = (data_dir / "accord_excerpt.txt").read_text()
    before = split(LoadedDocument(source="a.txt", title="T", kind="agreement", text=text), encoder)
    edited = text.replace("to open public purchasing", "to open public purchasing and services")
    assert edited != text
    after = split(LoadedDocument(source="a.txt", title="T", kind="agreement", text=edited), encoder)
    changed = {c.meta.chunk_id for c in before} ^ {c.meta.chunk_id for c in after}
    changed_sections = {c.meta.section_id for c in before + after if c.meta.chunk_id in changed}
    assert changed_sections == {"Article 102"}
    # An unchanged passage keeps its id although its offsets moved.
    old = by_section(before, "Article 2205")[0]
    new = by_section(after, "Article 2205")[0]
    assert old.meta.chunk_id == new.meta.chunk_id and new.meta.start > old.meta.start


# --- the token limit ------------------------------------------------------------------------
def test_no_chunk_exceeds_the_model_limit_on_the_shared_corpus_legislation(
    shared_corpus, encoder, model_tokens
):
    path = next((shared_corpus / "legislation").glob("uscode19_ch29_*part1*.txt"))
    chunks = split(load(path, path.name), encoder)
    assert len(chunks) > 100
    assert max(model_tokens(c.embed_text) for c in chunks) <= MAX_TOKENS


def _pathological_docs() -> dict[str, str]:
    rnd = random.Random(7)
    vocab = [
        "tariff",
        "origin",
        "quota",
        "levy",
        "goods",
        "party",
        "shall",
        "customs",
        "regional",
        "value",
        "content",
        "interoperability",
        "x7q",
        "ÿüñ",
    ]
    return {
        "one 5,000-word paragraph": " ".join(rnd.choice(vocab) for _ in range(5000)),
        "a giant URL": "See https://trade.example.org/"
        + "/".join(f"seg{i}q{i * 7}" for i in range(3000))
        + " for the schedule.",
        "a run of symbols": "Intro.\n\n" + "".join(rnd.choice("/-_.:;!?#") for _ in range(6000)),
        "CJK without spaces": "".join(
            rnd.choice("关税原产地规则协定缔约方货物") for _ in range(4000)
        ),
    }


@pytest.mark.parametrize("name", list(_pathological_docs()))
def test_pathological_input_never_exceeds_the_limit_and_loses_no_text(name, encoder, model_tokens):
    text = _pathological_docs()[name]
    doc = LoadedDocument(source="p.txt", title="Pathological input", kind="document", text=text)
    chunks = split(doc, encoder)
    assert len(chunks) > 1
    assert max(model_tokens(c.embed_text) for c in chunks) <= MAX_TOKENS
    for chunk in chunks:
        assert text[chunk.meta.start : chunk.meta.end] == chunk.text
    # Every non-space character is in some chunk, once (chunks do not overlap).
    covered = sum(len(re.sub(r"\s", "", c.text)) for c in chunks)
    assert covered == len(re.sub(r"\s", "", text))


def test_an_absurdly_long_title_is_cut_to_fit(encoder, model_tokens):
    doc = LoadedDocument(
        source="t.txt",
        title="关税规则 " * 300,
        kind="document",
        text="A short body about duties.\n\n" + "More words about quotas. " * 200,
    )
    chunks = split(doc, encoder)
    assert max(model_tokens(c.embed_text) for c in chunks) <= MAX_TOKENS
    assert all(encoder.count_tokens(c.meta.heading_path) <= MAX_TOKENS // 3 for c in chunks)


def test_smaller_chunk_tokens_gives_smaller_chunks(data_dir, encoder, model_tokens):
    doc = load(data_dir / "accord_excerpt.txt", "a.txt")
    big = split(doc, encoder, chunk_tokens=200)
    small = split(doc, encoder, chunk_tokens=48)
    assert len(small) > len(big)
    assert max(model_tokens(c.embed_text) for c in small) <= 48
