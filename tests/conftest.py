"""Shared fixtures. Every path the app writes to points at a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED_CORPUS = (ROOT.parent / "shared" / "corpus").resolve()
DOCS_CORPUS = ROOT / "docs_corpus"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """No test touches the user's home or the repo's own index."""
    from tradechat.settings import get_settings

    for key in list(os.environ):
        if key.startswith("TRADECHAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRADECHAT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def encoder():
    """The real bundled all-MiniLM-L6-v2, loaded once per test session."""
    from ingest.embed import get_encoder

    return get_encoder()


@pytest.fixture
def settings(tmp_path):
    """Settings with an embedded index in a temporary folder."""
    from tradechat.settings import Settings

    return Settings(data_dir=tmp_path / "data", index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"../shared/corpus not found at {SHARED_CORPUS}")
    return SHARED_CORPUS
