"""Fixtures for the answering tests: a real index of docs_corpus/ (real bundled encoder,
embedded Chroma in a temporary folder), built once per test session and shared by the
retrieval, chain and LLM-backend tests.

Tests must not change the shared index: a test that needs another index builds its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rag_support import DOCS_CORPUS, make_settings


@pytest.fixture(scope="session")
def docs_index(tmp_path_factory, encoder) -> Path:
    """The folder (settings base) of a real index of a copy of docs_corpus/."""
    from ingest.pipeline import ingest_paths

    base = tmp_path_factory.mktemp("rag_docs")
    corpus = base / "docs_corpus"
    # make_pdf.py is the script that wrote the PDF, not a document
    shutil.copytree(DOCS_CORPUS, corpus, ignore=shutil.ignore_patterns("*.py"))
    report = ingest_paths([corpus], settings=make_settings(base), encoder=encoder, progress=False)
    assert report.totals["failed"] == 0, report.files
    assert report.totals["new"] >= 6
    return base


@pytest.fixture(scope="session")
def docs_settings(docs_index):
    return make_settings(docs_index)


@pytest.fixture(scope="session")
def docs_pipeline(docs_settings, encoder):
    """The extractive pipeline over the docs_corpus index (its caches shared by tests)."""
    from rag.chain import RagPipeline

    return RagPipeline(docs_settings, encoder=encoder)
