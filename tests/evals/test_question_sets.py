"""Every question set in evals/ is valid against the corpus it is about: each fact string
occurs in a listed source, ids are unique, types and fields follow evals/check_questions.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.check_questions import check_questions

ROOT = Path(__file__).resolve().parents[2]
SETS = sorted((ROOT / "evals").glob("questions_*.jsonl"))


def test_every_question_set_is_checked_here():
    assert {p.name for p in SETS} >= {
        "questions_shared_corpus.jsonl",
        "questions_docs_corpus.jsonl",
        "questions_shared_holdout.jsonl",
        "questions_shared_blind2.jsonl",
    }


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_question_set_is_valid_against_its_corpus(path, shared_corpus):
    corpus = ROOT / "docs_corpus" if "docs_corpus" in path.name else shared_corpus
    problems, counts = check_questions(str(path), str(corpus))
    assert problems == []
    assert counts["unanswerable"] >= 3 and sum(counts.values()) >= 20
