"""The whole of ../shared/corpus, ingested once for this module (marked slow)."""

from __future__ import annotations

from collections import Counter

import pytest

from ingest.models import ChunkMeta
from ingest.pipeline import ingest_paths, iter_files
from ingest.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(shared_corpus, encoder, tmp_path_factory):
    from tradechat.settings import Settings

    base = tmp_path_factory.mktemp("shared-index")
    settings = Settings(data_dir=base / "data", index_dir=base / "index")
    report = ingest_paths([shared_corpus], settings=settings, encoder=encoder, progress=False)
    store = open_store(settings, encoder.label, encoder.max_tokens)
    got = store.chunks.get(include=["documents", "metadatas"])
    chunks = [
        (i, d, ChunkMeta.from_chroma(m))
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    return settings, report, store, chunks


def test_every_document_is_indexed(indexed, shared_corpus):
    _, report, _, chunks = indexed
    files = {f.source: f for f in report.files}
    expected = {p.relative_to(shared_corpus).as_posix() for p in iter_files(shared_corpus)}
    assert set(files) == expected
    housekeeping = {"SOURCES.tsv", "README.md"}  # a table of licences; the folder's README
    assert {s: files[s].status for s in housekeeping} == dict.fromkeys(housekeeping, "skipped")
    not_new = {
        s: (f.status, f.reason)
        for s, f in files.items()
        if f.status != "new" and s not in housekeeping
    }
    assert not_new == {}
    assert {c.source for _, _, c in chunks} == expected - housekeeping
    assert report.chunks_added == len(chunks) == report.embeddings_computed


def test_no_duplicate_ids_or_texts(indexed):
    *_, chunks = indexed
    assert len({i for i, _, _ in chunks}) == len(chunks)
    dupes = [t[:60] for t, n in Counter(d for _, d, _ in chunks).items() if n > 1]
    assert dupes == []


def test_no_chunk_over_the_model_limit(indexed, encoder):
    *_, chunks = indexed
    tokenizer = encoder.model.tokenizer
    longest = max(
        len(
            tokenizer(f"{m.heading_path}\n{d}", add_special_tokens=True, truncation=False)[
                "input_ids"
            ]
        )
        for _, d, m in chunks
    )
    assert longest <= 256


def test_nafta_articles_have_ids_and_headings(indexed):
    *_, chunks = indexed
    withdrawal = [m for _, _, m in chunks if m.section_id == "Article 2205"]
    assert withdrawal and withdrawal[0].section_heading == "Withdrawal"
    assert withdrawal[0].chapter == "Chapter Twenty Two: Final Provisions"
    assert withdrawal[0].heading_path.endswith(
        "> Chapter Twenty Two: Final Provisions > Article 2205: Withdrawal"
    )
    agreements = [m for _, _, m in chunks if m.source.startswith("agreements/nafta1994_ch")]
    with_article = [m for m in agreements if (m.section_id or "").startswith("Article ")]
    assert len(with_article) / len(agreements) > 0.9
    per_chapter = {m.source for m in with_article}
    assert per_chapter == {m.source for m in agreements}  # every NAFTA file has article ids
    assert any(m.section_id == "Article 34.1" for _, _, m in chunks)


def test_us_code_sections_have_paragraph_ids(indexed):
    *_, chunks = indexed
    code = [m for _, _, m in chunks if m.source.startswith("legislation/uscode19_ch29")]
    ids = {m.section_id for m in code}
    assert {"§ 4501", "§ 4532", "§ 4611"} <= ids
    review = next(m for m in code if m.section_id == "§ 4611")
    assert review.kind == "legislation" and review.section_heading
    act = [m for _, _, m in chunks if m.source.startswith("legislation/canada_cusma")]
    assert any(m.section_id == "Section 1" and m.section_heading == "Short title" for m in act)


def test_the_nafta_pdf_keeps_page_numbers(indexed):
    _, _, store, chunks = indexed
    pdf = [(d, m) for _, d, m in chunks if m.source.endswith(".pdf")]
    assert {m.page for _, m in pdf} == set(range(1, 11))
    text = store.document_text(pdf[0][1].source)
    for body, meta in pdf:
        assert text[meta.start : meta.end] == body
        assert "NORTH AMERICAN FREE TRADE AGREEMENT - CHAPTER TWENTY" not in body
    first = next(m for _, m in pdf if m.section_id == "Article 2001")
    assert first.page == 1 and first.section_heading == "The Free Trade Commission"


def test_web_page_is_the_article_only(indexed):
    *_, chunks = indexed
    news = " ".join(d for _, d, m in chunks if m.source.endswith(".html"))
    assert "Carney" in news
    for junk in ("Subscribe", "Privacy Policy", "window.analytics"):
        assert junk not in news


def test_unchanged_rerun_does_nothing(indexed, shared_corpus, encoder):
    settings, first, store, chunks = indexed
    again = ingest_paths([shared_corpus], settings=settings, encoder=encoder, progress=False)
    assert again.embeddings_computed == 0 and again.chunks_added == again.chunks_removed == 0
    assert again.totals["unchanged"] == first.totals["new"]
    assert store.count() == len(chunks)
