"""rag/retrieve.py: BM25 ranking and MMR on hand-made chunks; the hybrid Retriever
(dense + BM25 + identifiers, filters, modes) on the real docs_corpus index."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rag_support import make_chunk, make_settings

from ingest.pipeline import ingest_paths
from ingest.store import open_store
from rag.retrieve import BM25Index, Passage, Retriever, mmr
from rag.text import ident_regex, identifiers

# --- BM25Index ------------------------------------------------------------------------------
CHUNKS = [
    make_chunk("tariff", "The tariff on steel is a tariff of 25 percent; the tariff applies."),
    make_chunk("quota", "A tariff rate quota limits softwood lumber from Canada."),
    make_chunk("visa", "Canada reimposed a visa on Mexican visitors in 2024."),
    make_chunk("long", "Visa. " + "Unrelated filler words about dairy and cheese. " * 12),
    make_chunk("heading", "Either Party may leave by written notice.", heading="Withdrawal"),
]


@pytest.fixture(scope="module")
def bm25() -> BM25Index:
    return BM25Index(CHUNKS)


def ranked(index: BM25Index, query: str, k: int = 10, allowed=None) -> list[str]:
    return [index.ids[i] for i, _ in index.top(query, k, allowed)]


def test_bm25_ranks_by_term_frequency_and_stems(bm25):
    assert ranked(bm25, "tariffs")[:2] == ["tariff", "quota"]


def test_bm25_rare_terms_outweigh_common_ones(bm25):
    # "tariff" is in two chunks, "lumber" in one: the lumber chunk wins despite fewer hits
    assert ranked(bm25, "tariff lumber")[0] == "quota"
    assert bm25.idf_of("lumber") > bm25.idf_of("tariff")


def test_bm25_prefers_the_shorter_chunk_for_the_same_match(bm25):
    assert ranked(bm25, "visa") == ["visa", "long"]


def test_bm25_searches_the_heading_path_too(bm25):
    assert ranked(bm25, "withdrawal") == ["heading"]


def test_bm25_top_returns_only_matching_chunks_within_the_allowed_mask(bm25):
    assert ranked(bm25, "dairy cheese penguins", k=10) == ["long"]
    allowed = np.array([c.id != "visa" for c in CHUNKS])
    assert ranked(bm25, "visa", allowed=allowed) == ["long"]
    assert ranked(bm25, "tariff", k=1) == ["tariff"]


@pytest.mark.parametrize("query", ["", "the of and", "penguins glaciers"])
def test_bm25_query_without_known_terms_scores_nothing(bm25, query):
    assert not bm25.scores(query).any()
    assert bm25.top(query, 5) == []


def test_bm25_scores_are_one_per_chunk_and_unknown_terms_get_the_highest_idf(bm25):
    assert bm25.scores("visa").shape == (len(CHUNKS),)
    assert bm25.idf_of("penguin") == pytest.approx(float(bm25.idf.max()))


def test_bm25_over_no_chunks_answers_nothing():
    empty = BM25Index([])
    assert empty.top("tariff", 5) == []
    assert empty.scores("tariff").shape == (0,)


TRICKY = [
    make_chunk("glued", "Under Article34.7 and §§4611 the parties meet."),
    make_chunk("usc", "See 19 USC 4611 and 19 U.S.C. § 1862(c) for details."),
    make_chunk("sub", "Article 34.7.2 sets the agenda; Executive Order No. 14193 applies."),
    make_chunk(
        "head",
        "The parties review the agreement.",
        heading="Joint review",
        section_id="Article 34.7",
    ),
    make_chunk("near", "Article 134.7 and article 34.70 and § 46110 and 2019 U.S.C. 4611."),
]


@pytest.mark.parametrize(
    "ident",
    [
        "Article 34.7",
        "§ 4611",
        "19 U.S.C. 4611",
        "section 1862",
        "Executive Order 14193",
        "19 U.S.C. 1862",
        "Article 2205",
    ],
)
def test_ident_candidates_include_every_chunk_the_pattern_matches(ident):
    index = BM25Index(TRICKY)
    pattern = ident_regex(ident)
    matched = {
        i
        for i, c in enumerate(TRICKY)
        if pattern.search(f"{c.meta.section_id or ''} {c.meta.heading_path}")
        or pattern.search(c.text)
    }
    candidates = set(index.ident_candidates([ident]))
    assert matched <= candidates
    assert index.ident_candidates([ident]) == sorted(candidates)


def test_ident_candidates_narrow_the_search():
    index = BM25Index(TRICKY)
    assert [TRICKY[i].id for i in index.ident_candidates(["Article 34.7"])] == [
        "glued",
        "sub",
        "head",
        "near",  # "near" has 34 and 7 as digit runs, the regex decides
    ]
    assert [TRICKY[i].id for i in index.ident_candidates(["Executive Order 14193"])] == ["sub"]
    assert index.ident_candidates(["Article 2205"]) == []
    assert sorted(index.ident_candidates(["§ 4611", "section 1862"])) == [0, 1, 4]


def test_ident_candidates_on_the_corpus_match_a_full_scan(docs_pipeline):
    """Every identifier written in docs_corpus finds the same chunks as a regex scan."""
    bm25 = docs_pipeline.retriever.bm25()
    heads = [f"{c.meta.section_id or ''} {c.meta.heading_path}" for c in bm25.chunks]
    idents = {
        i
        for c, h in zip(bm25.chunks, heads, strict=True)
        for i in identifiers(h) + identifiers(c.text)
    }
    assert len(idents) > 10
    for ident in idents:
        pattern = ident_regex(ident)
        scanned = [
            i
            for i, c in enumerate(bm25.chunks)
            if pattern.search(heads[i]) or pattern.search(c.text)
        ]
        candidates = bm25.ident_candidates([ident])
        assert set(scanned) <= set(candidates), ident
        assert len(candidates) < len(bm25.chunks) / 2, ident


# --- mmr ------------------------------------------------------------------------------------
def passage(pid: str, score: float, vec: list[float], source: str = "a.md") -> Passage:
    emb = np.asarray(vec, dtype=np.float32)
    chunk = make_chunk(pid, f"text of {pid}", source=source)
    return Passage(pid, chunk.text, chunk.meta, score, embedding=emb / np.linalg.norm(emb))


def test_mmr_skips_a_near_duplicate_for_a_different_passage():
    cands = [
        passage("top", 1.0, [1, 0, 0]),
        passage("dup", 0.95, [1, 0.01, 0]),
        passage("other", 0.7, [0, 1, 0]),
    ]
    assert [p.id for p in mmr(cands, 2, 0.5, 5)] == ["top", "other"]
    # lambda = 1 is relevance only
    assert [p.id for p in mmr(cands, 2, 1.0, 5)] == ["top", "dup"]


def test_mmr_caps_passages_per_source():
    cands = [passage(f"a{i}", 1.0 - i / 10, [1, i, 0], source="long.md") for i in range(4)]
    cands.append(passage("b", 0.1, [1, 0, 1], source="short.md"))
    chosen = mmr(cands, 3, 1.0, 2)
    assert [p.id for p in chosen] == ["a0", "a1", "b"]  # cap 2 for long.md, then short.md
    assert Counter(p.meta.source for p in chosen) == {"long.md": 2, "short.md": 1}
    # With no other document left, the cap gives way rather than return fewer passages.
    assert [p.id for p in mmr(cands, 4, 1.0, 2)] == ["a0", "a1", "b", "a2"]


def test_mmr_handles_few_candidates_and_missing_embeddings():
    assert mmr([], 3, 0.5, 2) == []
    a = passage("a", 0.9, [1, 0])
    b = Passage("b", "text", a.meta.model_copy(update={"source": "b.md"}), 0.5)
    assert [p.id for p in mmr([b, a], 5, 0.5, 2)] == ["a", "b"]


# --- Retriever on the docs_corpus index -----------------------------------------------------
@pytest.fixture(scope="module")
def retriever(docs_pipeline) -> Retriever:
    return docs_pipeline.retriever


def _carries(p: Passage, ident: str) -> bool:
    pattern = ident_regex(ident)
    return bool(pattern.search(p.text) or pattern.search(p.meta.heading_path))


@pytest.mark.parametrize(
    ("question", "ident"),
    [
        ("What does Article 34.7 provide?", "Article 34.7"),
        ("What does 19 U.S.C. § 4611 require?", "§ 4611"),
        ("What does 19 USC 4611 require?", "19 U.S.C. 4611"),
        ("Which tariffs did Executive Order 14193 impose?", "Executive Order 14193"),
    ],
)
def test_identifier_passages_are_marked_and_ranked_first(retriever, question, ident):
    pool = retriever.candidates(question)
    assert _carries(pool[0], ident)
    marked = [p for p in pool if p.ident_match]
    assert marked and all(_carries(p, ident) for p in marked)
    assert all(p.embedding is not None for p in pool)  # MMR and re-ranking need them


def test_identifier_matching_is_off_in_dense_mode(docs_settings, docs_pipeline):
    dense = Retriever(
        docs_pipeline.store,
        docs_pipeline.encoder,
        docs_settings.model_copy(update={"retrieval_mode": "dense"}),
    )
    pool = dense.candidates("What does Article 34.7 provide?")
    assert pool and not any(p.ident_match for p in pool)
    assert all(p.lexical == 0.0 for p in pool)


def test_bm25_mode_needs_no_encoder(docs_settings, docs_pipeline):
    lexical = Retriever(
        docs_pipeline.store, None, docs_settings.model_copy(update={"retrieval_mode": "bm25"})
    )
    top = lexical.retrieve("regional value content passenger vehicles")
    assert top[0].meta.source == "usmca_auto_rules_of_origin.pdf"
    assert all(p.dense == 0.0 for p in top)


@pytest.mark.parametrize(
    "filters",
    [
        {"source": ["canada_mexico_relations.html"]},
        {"source": "canada_mexico_relations.html"},
        {"source": ["canada_mexico_relations.html", "no_such_file.md"], "kind": None},
    ],
)
def test_source_filter_restricts_every_retriever(retriever, filters):
    pool = retriever.candidates("What does Article 34.7 provide about tariffs?", filters)
    assert pool
    assert {p.meta.source for p in pool} == {"canada_mexico_relations.html"}


def test_kind_filter_restricts_every_retriever(retriever):
    kinds = {c.meta.kind for c in retriever.bm25().chunks}
    kind = sorted(kinds)[0]
    pool = retriever.candidates("tariffs on Canada and Mexico", {"kind": [kind]})
    assert pool and {p.meta.kind for p in pool} == {kind}


def test_retrieve_diversifies_across_documents(docs_settings, retriever):
    top = retriever.retrieve("USMCA tariffs Canada Mexico")
    assert len(top) == docs_settings.top_k
    per_source = Counter(p.meta.source for p in top)
    assert max(per_source.values()) <= docs_settings.max_per_source
    assert len(per_source) >= 3


def test_lexical_index_follows_the_store(tmp_path, encoder):
    """An upload (more chunks) is searchable at once, without a restart."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fees.md").write_text(
        "# Port fees\n\nThe Harbour Board sets the container fee at 41 dollars per box.\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path)
    ingest_paths([corpus], settings=settings, encoder=encoder, progress=False)
    retriever = Retriever(
        open_store(settings, encoder.label, encoder.max_tokens), encoder, settings
    )
    assert retriever.bm25().top("softwood quota licences", 3) == []
    (corpus / "quota.md").write_text(
        "# Quota licences\n\nSoftwood lumber quota licences are issued every quarter.\n",
        encoding="utf-8",
    )
    ingest_paths([corpus], settings=settings, encoder=encoder, progress=False)
    top = retriever.retrieve("When are softwood quota licences issued?")
    assert top[0].meta.source == "quota.md"


def test_retriever_reads_the_index_it_was_given(docs_index: Path, retriever):
    assert retriever.store.count() == len(retriever.bm25().chunks) > 20


# --- re-ranking when the question paraphrases its source --------------------------------------
def _rerank_pool(query_vec):
    from rag.rerank import SentenceBank, rerank

    # "echo" shares the question's words but not its meaning; "source" has the meaning in
    # other words. Both retrievers agreed on "echo", so it leads the fused rank.
    echo = passage("echo", 1.0, [0.8, 0.6, 0.0], source="echo.md")
    echo.text = "The shipper vouched for the paperwork of the region."
    source = passage("source", 0.5, [1.0, 0.1, 0.0], source="source.md")
    source.text = "An exporter that signed a certificate keeps its records for five years."
    q = np.asarray(query_vec, dtype=np.float32)
    q = q / np.linalg.norm(q)
    bank = SentenceBank(None)  # embed_top=0 below: no sentence is embedded
    return echo, source, q, lambda *a, **k: rerank(a[0], a[1], bank, *a[3:], **k)


def test_rerank_trusts_meaning_when_no_passage_shares_the_questions_words():
    echo, source, q, rerank = _rerank_pool([1.0, 0.0, 0.0])
    question = "How long must a trader hang on to evidence of origin?"  # no word in common
    chosen, _ = rerank(question, [echo, source], None, q, None, 2, 1.0, 5, 0)
    assert [p.id for p in chosen] == ["source", "echo"]
    echo, source, q, rerank = _rerank_pool([1.0, 0.0, 0.0])  # rerank rewrites the scores
    chosen, _ = rerank(question, [echo, source], None, q, None, 2, 1.0, 5, 0, weak_lexical=0.0)
    assert [p.id for p in chosen] == ["echo", "source"]  # the fused rank would have won


def test_rerank_keeps_word_overlap_when_the_question_uses_the_documents_words():
    echo, source, q, rerank = _rerank_pool([1.0, 0.0, 0.0])
    question = "How long must a shipper keep the paperwork it vouched for?"
    chosen, _ = rerank(question, [echo, source], None, q, None, 2, 1.0, 5, 0)
    assert [p.id for p in chosen] == ["echo", "source"]
    echo, source, q, rerank = _rerank_pool([1.0, 0.0, 0.0])
    chosen, _ = rerank(question, [echo, source], None, q, None, 2, 1.0, 5, 0, weak_lexical=1.0)
    assert [p.id for p in chosen] == ["source", "echo"]  # forced: meaning only


def test_rerank_counts_a_section_heading_that_names_what_is_asked():
    from rag.rerank import SentenceBank, rerank

    def cand(pid, heading, text):
        p = passage(pid, 1.0, [1.0, 0.0, 0.0], source=f"{pid}.md")
        p.text = text
        p.meta = p.meta.model_copy(update={"heading_path": f"Labor law > {heading}"})
        return p

    def ranked(weight):
        cands = [
            cand("setup", "Establishment", "There is hereby established a board."),
            cand("members", "Board membership; term", "The board shall be composed of 12."),
        ]
        q = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
        question = "How many people serve on the labor expert board membership?"
        chosen, _ = rerank(
            question, cands, SentenceBank(None), q, None, 2, 1.0, 5, 0, heading_weight=weight
        )
        return [p.id for p in chosen]

    assert ranked(0.0) == ["setup", "members"]  # a tie on the body text: pool order stays
    assert ranked(0.25) == ["members", "setup"]


def test_next_in_section_reads_on_only_within_a_section():
    def chunk(cid, index, section):
        c = make_chunk(cid, f"text {cid}", source="law.txt", section_id=section)
        return type(c)(c.id, c.text, c.meta.model_copy(update={"chunk_index": index}))

    chunks = [chunk("a", 0, "§ 1702"), chunk("b", 1, "§ 1702"), chunk("c", 2, "§ 1703")]
    bm25 = BM25Index(chunks)
    assert bm25.next_in_section("a").id == "b"  # (b)'s list runs on into the next chunk
    assert bm25.next_in_section("b") is None  # the next chunk starts another section
    assert bm25.next_in_section("c") is None  # the last chunk
    assert bm25.next_in_section("nope") is None


def test_a_documents_name_speaks_for_its_sentences_in_ordering_not_in_refusal(encoder):
    from rag.rerank import SentenceBank, score_sentences

    text = "It relies on the emergency powers statute as its authority."
    cands = []
    for pid, source in (("order", "articles/executive_order_14193.txt"), ("other", "law.txt")):
        p = passage(pid, 1.0, [1.0, 0.0, 0.0], source=source)
        p.text = text
        cands.append(p)
    question = "Which statutes does Executive Order 14193 rely on?"
    q = np.asarray(encoder.embed_one(question), dtype=np.float32)
    order, other = score_sentences(question, cands, SentenceBank(encoder), q, None)
    assert order.score > other.score  # the order's own sentence ranks first ...
    assert order.named > 0 == other.named
    assert order.judged == pytest.approx(other.judged)  # ... but is no stronger evidence


def test_a_line_that_numbers_and_dates_an_act_can_answer_when_it_was_made(encoder):
    from rag.rerank import SentenceBank, score_sentences

    p = passage("eo", 1.0, [1.0, 0.0, 0.0], source="articles/executive_order.txt")
    p.text = (
        "Federal Register\nFriday, February 7, 2025\n\n"
        "Executive Order 14193 of February 1, 2025\n\n"
        "Imposing Duties To Address the Flow of Illicit Drugs\n\n"
        "By the authority vested in me as President, I hereby order as follows."
    )
    question = "On what date was Executive Order 14193 signed?"
    q = np.asarray(encoder.embed_one(question), dtype=np.float32)
    scored = score_sentences(question, [p], SentenceBank(encoder), q, None)
    texts = [s.sentence.text for s in scored]
    assert "Executive Order 14193 of February 1, 2025" in texts
    assert not any(t.startswith("Friday") for t in texts)  # a bare dateline is not
    best = max(scored, key=lambda s: s.score)
    assert best.sentence.text == "Executive Order 14193 of February 1, 2025"
    # It says when the order was made and nothing else: other questions do not quote it.
    question = "What does Executive Order 14193 impose?"
    q = np.asarray(encoder.embed_one(question), dtype=np.float32)
    scored = score_sentences(question, [p], SentenceBank(encoder), q, None)
    assert scored and not any("of February 1, 2025" in s.sentence.text for s in scored)
