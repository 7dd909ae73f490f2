"""The answering chain with the default extractive answerer over a real index of
docs_corpus/: citations, identifier questions, refusals, follow-ups, filters, the answer's
JSON (also through `tradechat ask --json`), streaming and errors.

Every answer produced here also goes through ``assert_well_formed``: citation quotes are
the document's text at [start:end], markers are exactly 1..len(citations), and a refusal
carries no citations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from langchain_core.runnables import Runnable
from rag_support import ROOT, make_settings

from rag import prompts
from rag.chain import RagPipeline, answer_question, build_chain, stream_answer
from rag.models import Answer, Turn
from rag.text import ident_regex
from tradechat.errors import BadRequestError, IndexNotFoundError

WHY = "Why are Canada–Mexico relations at a low point?"
RELATIONS = "canada_mexico_relations.html"
AUTOS = "usmca_auto_rules_of_origin.pdf"
TARIFFS = "us_tariffs_2025_canada_mexico.md"
QUESTIONS = [
    json.loads(line)
    for line in (ROOT / "evals" / "questions_docs_corpus.jsonl").read_text().splitlines()
    if line.strip()
]

ANSWER_KEYS = {"question", "answer", "refused", "citations", "retrieved", "timings_ms"}
CITATION_KEYS = {"n", "source", "title", "section", "page", "quote", "start", "end", "score"}
RETRIEVED_KEYS = {"source", "section", "page", "score"}


def assert_well_formed(answer: Answer, pipeline: RagPipeline) -> None:
    for c in answer.citations:
        doc = pipeline.store.document_text(c.source)
        assert doc is not None and doc[c.start : c.end] == c.quote, c
        assert 0.0 <= c.score <= 1.0
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == set(range(1, len(answer.citations) + 1)), answer.answer
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    cited = {(c.source, c.section, c.page) for c in answer.citations}
    assert cited <= {(r.source, r.section, r.page) for r in answer.retrieved}
    assert answer.refused == (not answer.citations)
    assert answer.answer.strip()
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}
    assert all(v >= 0 for v in answer.timings_ms.values())
    assert answer.timings_ms["total"] >= answer.timings_ms["retrieve"]


@pytest.fixture(scope="module")
def ask(docs_pipeline):
    """``ask(question, history=None, filters=None)`` -> a checked Answer."""

    def run(question: str, history=None, filters=None) -> Answer:
        answer = answer_question(question, history=history, filters=filters, pipeline=docs_pipeline)
        assert_well_formed(answer, docs_pipeline)
        return answer

    return run


@pytest.fixture(scope="module")
def titles(docs_pipeline) -> dict[str, str]:
    return {c.meta.source: c.meta.title for c in docs_pipeline.retriever.bm25().chunks}


# --- answers with citations -------------------------------------------------------------------
def test_why_question_is_answered_from_the_relations_note(ask):
    answer = ask(WHY)
    assert not answer.refused
    assert RELATIONS in {c.source for c in answer.citations}
    assert answer.retrieved[0].source == RELATIONS
    assert answer.standalone_question is None


def test_why_question_gets_the_causes(ask):
    answer = ask(WHY)
    assert "visa" in answer.answer.lower()
    assert any("visa" in c.quote.lower() for c in answer.citations)


@pytest.mark.parametrize(
    ("question", "ident", "source"),
    [
        ("What does Article 34.7 provide?", "Article 34.7", "usmca_basics_and_joint_review.md"),
        (
            "What does 19 U.S.C. § 4611 require the US Trade Representative to do before a "
            "USMCA joint review?",
            "§ 4611",
            "usmca_basics_and_joint_review.md",
        ),
    ],
)
def test_identifier_question_puts_the_passage_carrying_it_first(
    docs_pipeline, ask, question, ident, source
):
    state = docs_pipeline.prepare({"question": question})
    first = state.passages[0]
    pattern = ident_regex(ident)
    assert pattern.search(first.text) or pattern.search(first.meta.heading_path)
    answer = ask(question)
    assert not answer.refused
    assert source in {c.source for c in answer.citations}
    assert any(
        pattern.search(c.quote) or pattern.search(c.section or "")
        for c in answer.citations
        if c.source == source
    )


def test_identifier_section_passage_is_among_the_first(docs_pipeline):
    state = docs_pipeline.prepare({"question": "What does Article 34.7 provide?"})
    sections = [p.meta.section_label or "" for p in state.passages[:3]]
    assert any("Article 34.7" in s for s in sections), sections


# --- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "What tariff cuts did the European Union and Japan agree on cars?",
        "How do I feed a sourdough starter before baking bread?",
    ],
)
def test_off_topic_question_is_refused_with_the_closest_sources(ask, titles, question):
    answer = ask(question)
    assert answer.refused and answer.citations == []
    assert answer.retrieved
    assert answer.answer.startswith(prompts.EXTRACTIVE_REFUSAL_EMPTY.rstrip("."))
    assert "closest sources" in answer.answer
    assert titles[answer.retrieved[0].source] in answer.answer
    assert not re.search(r"\[\d+\]", answer.answer)


def test_refusal_names_what_the_documents_do_not_mention(ask):
    answer = ask("What tariff cuts did the European Union and Japan agree on cars?")
    assert "Japan" in answer.answer


# --- follow-ups -------------------------------------------------------------------------------
CARS = "What are the USMCA rules of origin for passenger cars?"
CARS_HISTORY = [
    Turn(role="user", content=CARS),
    Turn(
        role="assistant",
        content="A passenger vehicle needs 75 percent regional value "
        "content, and 40 percent must come from high-wage work.",
    ),
]


def test_follow_up_is_made_standalone_and_answered_from_the_right_document(ask):
    question = "And what is the labour value content requirement for light trucks?"
    answer = ask(question, history=CARS_HISTORY)
    assert answer.question == question
    assert answer.standalone_question and CARS in answer.standalone_question
    assert not answer.refused
    assert answer.citations[0].source == AUTOS
    assert "45" in answer.answer


def test_history_may_be_plain_dicts(ask):
    history = [t.model_dump() for t in CARS_HISTORY]
    answer = ask("And for light trucks?", history=history)
    assert answer.standalone_question and CARS in answer.standalone_question


def test_a_self_contained_question_ignores_the_history(ask):
    answer = ask("What does Article 34.7 provide?", history=CARS_HISTORY)
    assert answer.standalone_question is None
    assert AUTOS not in {c.source for c in answer.citations}


# --- filters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("filters", [{"source": [TARIFFS]}, {"source": TARIFFS}])
def test_source_filter_restricts_retrieval_and_citations(ask, filters):
    answer = ask("What tariff rates apply to goods from Canada?", filters=filters)
    assert answer.retrieved and {r.source for r in answer.retrieved} == {TARIFFS}
    assert not answer.refused and {c.source for c in answer.citations} == {TARIFFS}


def test_filter_to_a_document_that_does_not_answer_refuses(ask, titles):
    answer = ask(WHY, filters={"source": [AUTOS]})
    assert {r.source for r in answer.retrieved} == {AUTOS}
    assert answer.refused and titles[AUTOS] in answer.answer


def test_a_sources_list_is_never_quoted(ask):
    # The PDF's bibliography names the trade-war article and the USMCA: its lines share
    # the question's words, but they are references, not statements.
    answer = ask("Which sources describe the 2025 trade war with Canada and Mexico?")
    assert answer.citations
    assert [c.section for c in answer.citations if "Sources" in (c.section or "")] == []
    assert not any('Wikipedia, "' in c.quote for c in answer.citations)


def test_filter_that_matches_nothing_refuses_without_sources(ask):
    answer = ask(WHY, filters={"source": ["no/such/file.md"]})
    assert answer.refused and answer.retrieved == []
    assert answer.answer == prompts.EXTRACTIVE_REFUSAL_EMPTY


# --- every question of the docs_corpus question set --------------------------------------------
@pytest.mark.parametrize("item", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_every_answer_is_well_formed(ask, item):
    history = [Turn(**t) for t in item.get("history", [])]
    answer = ask(item["question"], history=history)
    assert len(answer.retrieved) >= 3
    if item.get("history"):
        assert answer.standalone_question


# --- the JSON object, from Python and from the CLI -------------------------------------------
def test_answer_json_matches_tradechat_ask_json(docs_index, docs_settings):
    question = "When did the USMCA enter into force?"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADECHAT_")}
    env.update(TRADECHAT_DATA_DIR=str(docs_index / "data"), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradechat.cli",
            "ask",
            question,
            "--index",
            str(docs_index / "index"),
            "--json",
        ],
        cwd=docs_index,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    assert set(cli) == ANSWER_KEYS
    assert set(cli["timings_ms"]) == {"retrieve", "answer", "total"}
    assert cli["citations"] and cli["retrieved"]
    assert all(set(c) == CITATION_KEYS for c in cli["citations"])
    assert all(set(r) == RETRIEVED_KEYS for r in cli["retrieved"])
    assert cli["question"] == question and cli["refused"] is False
    assert "2020" in cli["answer"]

    # the Python API (through the cached pipeline for these settings) returns the same object
    api = answer_question(question, settings=docs_settings).model_dump()
    assert api.pop("standalone_question") is None
    for key in ("timings_ms",):
        api.pop(key), cli.pop(key)
    assert api == cli


# --- the runnable and streaming ---------------------------------------------------------------
def test_build_chain_is_a_runnable_that_streams_tokens_then_the_answer(docs_pipeline):
    chain = build_chain(pipeline=docs_pipeline)
    assert isinstance(chain, Runnable)
    events = list(chain.stream({"question": "What does Article 34.7 provide?"}))
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert len(kinds) > 2 and set(kinds[:-1]) == {"token"}
    final = events[-1]["data"]
    assert isinstance(final, Answer) and not final.refused
    assert "".join(e["data"] for e in events[:-1]) == final.answer


def test_a_refusal_streams_as_one_token(docs_pipeline):
    events = list(stream_answer("How do I feed a sourdough starter?", pipeline=docs_pipeline))
    assert [e["event"] for e in events] == ["token", "answer"]
    assert events[0]["data"] == events[1]["data"].answer and events[1]["data"].refused


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["", "   \n\t", None])
def test_empty_question_is_a_bad_request(docs_pipeline, question):
    with pytest.raises(BadRequestError, match="empty"):
        answer_question(question, pipeline=docs_pipeline)


def test_oversized_question_is_a_bad_request_naming_the_setting(docs_pipeline, docs_settings):
    limit = docs_settings.max_question_chars
    with pytest.raises(BadRequestError, match="TRADECHAT_MAX_QUESTION_CHARS"):
        answer_question("tariff " * (limit // 7 + 1), pipeline=docs_pipeline)
    docs_pipeline.prepare({"question": "x" * limit})  # the limit itself is accepted


@pytest.mark.parametrize(
    "history", [[{"role": "system", "content": "hi"}], [{"role": "user"}], ["just a string"]]
)
def test_malformed_history_is_a_bad_request(docs_pipeline, history):
    with pytest.raises(BadRequestError, match="history"):
        answer_question("And for trucks?", history=history, pipeline=docs_pipeline)


def test_empty_index_raises_index_not_found(tmp_path, encoder):
    pipeline = RagPipeline(make_settings(tmp_path), encoder=encoder)
    with pytest.raises(IndexNotFoundError, match="tradechat ingest"):
        answer_question(WHY, pipeline=pipeline)


@pytest.mark.parametrize("passage_cosine, refused", [(0.0, False), (1.0, True)])
def test_a_passage_that_reads_as_the_question_is_evidence_though_no_sentence_is(
    docs_index, encoder, passage_cosine, refused
):
    # No sentence reaches an evidence threshold of 0.99; the best passage's cosine decides.
    settings = make_settings(
        docs_index, refusal_threshold=0.99, refusal_passage_cosine=passage_cosine
    )
    answer = answer_question(WHY, pipeline=RagPipeline(settings, encoder=encoder))
    assert answer.refused is refused


@pytest.mark.parametrize(
    "question, fact",
    [
        ("How much notice must a party give to withdraw from the USMCA?", "six months"),
        ("When must the USTR publish a Federal Register notice before a joint review?", "270"),
    ],
)
def test_a_pool_passage_that_reranking_left_out_still_answers_as_a_spare(
    docs_pipeline, monkeypatch, question, fact
):
    """Re-ranking is made to leave out every passage that states the fact (as the cap per
    document or MMR may): the best of the left-out pool passages is kept as a spare, its
    sentence joins the answer, cited to it, listed last among the sources."""
    import rag.chain as chain

    real = chain.rerank

    def leave_out(q, candidates, *args, **kwargs):
        return real(q, [c for c in candidates if fact not in c.text], *args, **kwargs)

    monkeypatch.setattr(chain, "rerank", leave_out)
    answer = answer_question(question, pipeline=docs_pipeline)
    assert_well_formed(answer, docs_pipeline)
    assert not answer.refused and fact in answer.answer
    cited = [c for c in answer.citations if fact in c.quote]
    assert cited and (cited[0].source, cited[0].section) == (
        answer.retrieved[-1].source,
        answer.retrieved[-1].section,
    )
    monkeypatch.setattr(RagPipeline, "_add_spare", lambda self, state, candidates: None)
    assert fact not in answer_question(question, pipeline=docs_pipeline).answer
