"""Fixtures for the evaluation tests: a tiny real corpus, its question set, a fake chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_fakes import PDF_PAGES, QUESTIONS, TARIFFS, WITHDRAWAL, FakeChain, make_pdf


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    (root / "docs").mkdir(parents=True)
    (root / "withdrawal.md").write_text(WITHDRAWAL, encoding="utf-8")
    (root / "tariffs.txt").write_text(TARIFFS, encoding="utf-8")
    make_pdf(root / "docs" / "rules.pdf", PDF_PAGES)
    return root


@pytest.fixture
def tiny_questions(tmp_path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


@pytest.fixture
def fake_chain(tiny_corpus) -> FakeChain:
    return FakeChain(tiny_corpus)
