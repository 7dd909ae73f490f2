"""Metrics: known values, normalisation, and proof that each metric reads the system's
outputs (not the reference answers) and can fail."""

from __future__ import annotations

import random

import pytest
from eval_fakes import QUESTIONS, SCRIPT, FakeChain

from evals import metrics as m
from evals.score import DEFINITIONS, CorpusTexts, score_question, score_records

# --- facts -----------------------------------------------------------------------------------


def test_fact_matching_normalises_case_whitespace_quotes_and_dashes():
    answer = "Canada\u2013Mexico  relations:\n the \u201cCUSMA\u201d took effect on 1\u00a0July 2020; Carney\u2019s visit."
    assert m.fact_covered(answer, ["canada-mexico relations"])
    assert m.fact_covered(answer, ['"cusma"'])
    assert m.fact_covered(answer, ["1 July 2020"])
    assert m.fact_covered(answer, ["Carney's visit"])
    assert not m.fact_covered(answer, ["2021"])


def test_citation_markers_never_count_as_facts():
    assert m.fact_recall("The panel has members [5].", [["5"]]) == 0.0
    assert m.fact_recall("The panel has 5 members [1].", [["5"]]) == 1.0


def test_fact_recall_counts_groups_and_any_alternative():
    facts = [["six months", "6 months"], ["written notice"], ["remaining Parties"]]
    assert m.fact_recall("after 6 months", facts) == pytest.approx(1 / 3)
    assert m.fact_recall("written notice; six months; remaining parties", facts) == 1.0


# --- ranking ---------------------------------------------------------------------------------


def test_ranking_metrics_by_hand():
    ranked = ["x", "a", "a", None, "b", "y"]
    rel = {"a", "b"}
    assert m.hit_at_k(ranked, rel, 1) == 0.0
    assert m.hit_at_k(ranked, rel, 2) == 1.0
    assert m.recall_at_k(ranked, rel, 3) == 0.5
    assert m.recall_at_k(ranked, rel, 5) == 1.0
    assert m.reciprocal_rank(ranked, rel) == 0.5
    # gains at ranks 2 (a) and 5 (b); the repeated "a" earns nothing
    dcg = 1 / m.math.log2(3) + 1 / m.math.log2(6)
    ideal = 1 + 1 / m.math.log2(3)
    assert m.ndcg_at_k(ranked, rel, 10) == pytest.approx(dcg / ideal)
    assert m.ndcg_at_k(["a", "b"], rel, 10) == 1.0
    assert m.ndcg_at_k(["a", "a", "a", "a"], rel, 10) < 1.0


def test_ranking_metrics_are_undefined_without_relevant_items():
    for fn in (
        lambda: m.hit_at_k(["a"], set(), 5),
        lambda: m.recall_at_k(["a"], set(), 5),
        lambda: m.reciprocal_rank(["a"], set()),
        lambda: m.ndcg_at_k(["a"], set()),
    ):
        assert fn() is None


def test_source_matching_by_path_basename_or_parent_root():
    assert m.match_source("agreements/ch20.pdf", ["ch20.pdf"]) == "ch20.pdf"
    assert m.match_source("corpus/agreements/ch20.pdf", ["agreements/ch20.pdf"])
    assert m.match_source("agreements/ch20.pdf", ["other/ch20.pdf"]) is None
    assert m.match_source("agreements/ch200.pdf", ["ch20.pdf"]) is None


# --- citations -------------------------------------------------------------------------------


def test_quote_must_really_occur_in_the_document():
    doc = "A Party may withdraw from this Agreement six months after notice."
    assert m.quote_in_document("A Party may withdraw", doc, 0, 20)
    assert m.quote_in_document("a party may\nwithdraw", doc)  # whitespace and case
    assert not m.quote_in_document("A Party may not withdraw", doc, 0, 24)
    assert not m.quote_in_document("", doc, 0, 0)
    # a wrong span is still a real quote, but not an exact span
    assert m.quote_in_document("six months", doc, 0, 10)
    assert not m.span_exact("six months", doc, 0, 10)


def test_relevance_is_content_word_coverage_of_the_sentence():
    quote = "On 4 March 2025 the United States imposed a 25% tariff on goods from Canada."
    assert m.relevance("The United States imposed a 25% tariff on Canada [1].", quote) == 1.0
    assert m.relevance("NAFTA was signed in 1992 [1].", quote) == 0.0
    assert m.relevance("[1]", quote) is None


def test_supported_markers_and_sentence_share():
    cits = [
        {"n": 1, "quote": "NAFTA entered into force on January 1, 1994."},
        {"n": 2, "quote": "The Panel shall consist of five members."},
    ]
    answer = (
        "NAFTA entered into force on January 1, 1994 [1]. It has 22 chapters [2]. It was popular."
    )
    rels = m.supported_markers(answer, cits, {1: True, 2: True})
    assert m.citation_supported(rels[1]) and not m.citation_supported(rels[2])
    assert m.sentence_support_share(answer, {1}) == pytest.approx(1 / 3)
    # a quote that does not occur in its document supports nothing, however relevant
    rels = m.supported_markers(answer, cits, {1: False, 2: True})
    assert rels[1] is None


def test_a_citation_must_back_the_numbers_of_its_sentence():
    cits = [{"n": 1, "quote": "A passenger vehicle needs 75 percent regional value content."}]
    right = m.supported_markers(
        "Passenger vehicles need 75 percent value content [1].", cits, {1: True}
    )
    wrong = m.supported_markers(
        "Passenger vehicles need 62.5 percent value content [1].", cits, {1: True}
    )
    assert m.citation_supported(right[1]) and not m.citation_supported(wrong[1])


def test_two_markers_share_one_sentence():
    cits = [
        {"n": 1, "quote": "Canada faced a 25% tariff."},
        {"n": 2, "quote": "Energy imports faced a 10% tariff."},
    ]
    answer = "Canada faced 25% [1] while energy imports faced 10% [2]."
    rels = m.supported_markers(answer, cits, {1: True, 2: True})
    assert m.citation_supported(rels[1]) and m.citation_supported(rels[2])


def test_citation_precision_is_a_share_of_citations():
    assert m.citation_precision(["a.txt", "b.txt"], ["a.txt"]) == 0.5
    assert m.citation_precision(["b.txt"], ["a.txt"]) == 0.0
    assert m.citation_precision(["a.txt"], []) is None


def test_sentence_splitting_keeps_markers_and_abbreviations():
    text = (
        "Under 19 U.S.C. § 4611 the USTR reports [1]. Art. 2205 allows withdrawal. [2]\n"
        "- item one\n- item two [3]"
    )
    assert m.split_sentences(text) == [
        "Under 19 U.S.C. § 4611 the USTR reports [1].",
        "Art. 2205 allows withdrawal. [2]",
        "- item one",
        "- item two [3]",
    ]


# --- refusals and latency ----------------------------------------------------------------------


def test_refusal_metrics_cannot_be_gamed_by_always_or_never_refusing():
    truth = [True] * 8 + [False] * 2
    always = m.refusal_metrics((a, True) for a in truth)
    never = m.refusal_metrics((a, False) for a in truth)
    assert always["refusal_recall"] == 1.0 and always["false_refusal_rate"] == 1.0
    assert always["refusal_accuracy"] == 0.2
    assert never["refusal_recall"] == 0.0 and never["refusal_precision"] is None
    assert never["refusal_accuracy"] == 0.8


def test_percentile_agrees_with_numpy():
    np = pytest.importorskip("numpy")
    rng = random.Random(3)
    xs = [rng.uniform(10, 900) for _ in range(37)]
    for q in (0, 50, 95, 100):
        assert m.percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


# --- the scorer reads the system's outputs ------------------------------------------------------


def _perfect_answers(corpus) -> list[dict]:
    chain = FakeChain(corpus)
    rows = []
    for q in QUESTIONS:
        if q["id"] == "t5":  # answer the why-question from the right sentence
            SCRIPT_T5 = (
                "tariffs.txt",
                "Goods that qualify under the USMCA rules of origin were exempted.",
            )
            saved = SCRIPT[q["question"]]
            SCRIPT[q["question"]] = SCRIPT_T5
            try:
                ans = chain(q["question"], settings=None)
            finally:
                SCRIPT[q["question"]] = saved
        else:
            ans = chain(q["question"], settings=None)
        rows.append({"id": q["id"], **ans.model_dump(exclude={"standalone_question"})})
    return rows


def _broken_answers(perfect: list[dict]) -> list[dict]:
    """Every way of being wrong at once: wrong retrieval, wrong page, fabricated or
    irrelevant quotes, a citation of the wrong document, unsourced sentences, a false
    refusal, and an answered unanswerable question."""
    rows = {r["id"]: dict(r) for r in perfect}
    rows["t1"].update(
        answer="Parties can leave whenever they like [1]. No notice is needed.",
        retrieved=[{"source": "tariffs.txt", "score": 0.9}],
        citations=[
            {
                **rows["t1"]["citations"][0],
                "source": "tariffs.txt",
                "quote": "Parties can leave whenever they like.",
                "start": 0,
                "end": 10,
            }
        ],
    )
    rows["t2"].update(answer="I could not find this in the documents.", refused=True, citations=[])
    rows["t3"].update(
        retrieved=[{"source": "docs/rules.pdf", "page": 2, "score": 0.9}],
        answer="Passenger vehicles need 62.5 percent content [1].",
        citations=[{**rows["t4"]["citations"][0]}],
    )
    rows["t4"].update(
        answer="Light trucks are exempt.",
        citations=[],
        retrieved=[{"source": "withdrawal.md", "score": 0.2}],
    )
    rows["t6"].update(
        answer="Lima is the capital [1].", refused=False, citations=[{**rows["t1"]["citations"][0]}]
    )
    return list(rows.values())


def test_every_metric_separates_a_perfect_system_from_a_broken_one(tiny_corpus):
    questions = [dict(q, pages=q.get("pages", {}), history=q.get("history", [])) for q in QUESTIONS]
    perfect = _perfect_answers(tiny_corpus)
    good = score_records(questions, perfect, tiny_corpus)["overall"]
    bad = score_records(questions, _broken_answers(perfect), tiny_corpus)["overall"]
    quality = [k for k in DEFINITIONS if not k.endswith("_ms")]
    for key in quality:
        if key == "false_refusal_rate":
            assert good[key] == 0.0 and bad[key] > 0, key
        else:
            assert good[key] == 1.0, (key, good[key])
            assert bad[key] is not None and bad[key] < good[key], (key, bad[key])


def test_scores_follow_the_answers_not_the_reference(tiny_corpus):
    """Give each question another question's answer: an evaluation that looked at the
    reference answers instead of the outputs would not notice."""
    questions = [dict(q, pages=q.get("pages", {}), history=q.get("history", [])) for q in QUESTIONS]
    perfect = _perfect_answers(tiny_corpus)
    ids = [r["id"] for r in perfect]
    rotated = [dict(r, id=ids[(i + 1) % len(ids)]) for i, r in enumerate(perfect)]
    good = score_records(questions, perfect, tiny_corpus)["overall"]
    bad = score_records(questions, rotated, tiny_corpus)["overall"]
    for key in ("hit@5", "fact_recall", "citation_precision", "refusal_accuracy"):
        assert bad[key] < good[key], key


def test_an_answer_equal_to_the_reference_facts_still_needs_retrieval_and_citations(tiny_corpus):
    q = dict(QUESTIONS[0], pages={}, history=[])
    rec = score_question(
        q,
        {"id": "t1", "answer": "six months, written notice", "refused": False},
        CorpusTexts(tiny_corpus),
    )
    assert rec["fact_recall"] == 1.0
    assert rec["hit@5"] == 0.0 and rec["sentence_support"] == 0.0
    assert rec["answered_with_citation"] == 0.0


def test_citing_a_real_quote_from_another_document_is_not_supported(tiny_corpus):
    q = dict(QUESTIONS[1], pages={}, history=[])
    text = (tiny_corpus / "tariffs.txt").read_text()
    quote = "Energy and potash from Canada faced a lower 10% tariff."
    start = text.index(quote)
    cit = {
        "n": 1,
        "source": "withdrawal.md",
        "title": "t",
        "quote": quote,
        "start": start,
        "end": start + len(quote),
        "score": 1.0,
    }
    rec = score_question(
        q,
        {"answer": "Canadian energy faced a 10% tariff [1].", "citations": [cit], "retrieved": []},
        CorpusTexts(tiny_corpus),
    )
    assert rec["n_verbatim"] == 0 and rec["n_supported"] == 0
    assert rec["citation_problems"][0]["problem"] == "quote not found in the document"
    cit["source"] = "tariffs.txt"
    rec = score_question(
        q,
        {"answer": "Canadian energy faced a 10% tariff [1].", "citations": [cit], "retrieved": []},
        CorpusTexts(tiny_corpus),
    )
    assert rec["n_supported"] == 1 and rec["n_span_exact"] == 1 and rec["sentence_support"] == 1
