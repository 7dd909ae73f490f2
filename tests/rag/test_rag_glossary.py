"""The glossary of lay phrases: a paraphrased question reaches the documents' own terms."""

from __future__ import annotations

import numpy as np
from rag_support import make_chunk

from rag.glossary import expanded_query, in_document_terms, related_terms
from rag.rerank import term_share, term_weights
from rag.retrieve import BM25Index

WITHDRAWAL = "A Party may withdraw from this Agreement six months after it provides written notice."
OTHER = [
    "The Commission shall meet at least once a year in regular session.",
    "Each Party shall accord national treatment to investors of another Party.",
    "Forecasters issued a storm warning for the coast.",
]


def test_lay_phrases_map_to_the_documents_terms():
    related = related_terms("How much warning must a country give to walk away from the pact?")
    assert {"withdraw", "withdrawal"} <= related["walk"]
    assert {"notic", "notify"} & related["warn"]
    # Every mapped term is one of the question's own terms (stemmed).
    assert set(related) <= set(term_weights("warning country walk away", None))


def test_a_question_in_the_documents_words_is_left_alone():
    question = "What does Article 2205 say about withdrawal?"
    assert related_terms(question) == {}
    assert expanded_query(question) == question


def test_bm25_finds_the_clause_a_paraphrase_describes():
    chunks = [make_chunk(f"c{i}", t) for i, t in enumerate([*OTHER, WITHDRAWAL])]
    bm25 = BM25Index(chunks)
    question = "How much warning must a country give before it can walk away?"
    plain = [chunks[i].text for i, _ in bm25.top(question, 4)]
    expanded = [chunks[i].text for i, _ in bm25.top(expanded_query(question), 4)]
    assert WITHDRAWAL not in plain[:1]  # the question's own words find the wrong chunk
    assert expanded[0] == WITHDRAWAL


def test_a_related_term_counts_as_the_questions_word():
    weights = term_weights("How much warning before a country can walk away?", None)
    assert term_share(weights, {"withdraw", "notic"}) > term_share(dict(weights), {"withdraw"})
    assert term_share(dict(weights), {"withdraw", "notic"}) == 0.0


def test_a_question_is_reworded_in_the_documents_terms():
    question = "If a government seizes a factory, how is the payout worked out?"
    reworded = in_document_terms(question)
    assert reworded.startswith("If a government expropriate")
    assert "compensation" in reworded and "seizes" not in reworded and "payout" not in reworded
    # Phrases are replaced once, on the question as asked: a replacement is not reworded
    # again by a later entry ("withdraw ... terminate" is not itself rewritten).
    assert in_document_terms("Can it walk away?").count("terminate") == 1
    assert in_document_terms("What does Article 2205 say about withdrawal?") == (
        "What does Article 2205 say about withdrawal?"
    )


def test_the_reworded_question_is_closer_to_the_clause_it_paraphrases(encoder):
    clause = (
        "Compensation shall be equivalent to the fair market value of the expropriated "
        "investment immediately before the expropriation took place."
    )
    question = "If a government seizes a factory owned by a foreign firm, how is the payout set?"
    c, q, r = np.asarray(
        encoder.embed([clause, question, in_document_terms(question)]), dtype=np.float32
    )
    assert float(c @ r) > float(c @ q) + 0.05


def test_what_a_body_is_made_up_of_reaches_the_word_the_treaties_use():
    # Article 2002 of NAFTA: "a Secretariat comprising national Sections".
    for question in ("How was the Secretariat made up?", "What did the Secretariat consist of?"):
        assert "comprising" in expanded_query(question)
        assert "comprising" in in_document_terms(question)
    assert "comprising" not in expanded_query("What does the Secretariat do?")
