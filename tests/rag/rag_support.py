"""Helpers for the answering tests (a module, not conftest.py, so that test modules can
import them: several conftest.py files in tests/ would clash as "conftest")."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ingest.models import ChunkMeta
from ingest.store import StoredChunk

ROOT = Path(__file__).resolve().parents[2]
DOCS_CORPUS = ROOT / "docs_corpus"


def make_settings(base: Path, **overrides):
    """Settings for the index under ``base``; TRADECHAT_* variables and .env ignored.

    Session fixtures are set up before the autouse fixture clears the environment, so
    they must not read it.
    """
    from tradechat.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("TRADECHAT_"):
                mp.delenv(key)
        return Settings(
            _env_file=None, data_dir=base / "data", index_dir=base / "index", **overrides
        )


def make_chunk(
    cid: str,
    text: str,
    source: str = "doc.md",
    heading: str = "",
    start: int = 0,
    section_id: str | None = None,
    kind: str = "note",
) -> StoredChunk:
    """A stored chunk built by hand (for BM25 and MMR unit tests)."""
    meta = ChunkMeta(
        chunk_id=cid,
        source=source,
        title=source.rsplit("/", 1)[-1],
        kind=kind,
        section_id=section_id,
        heading_path=heading or source,
        start=start,
        end=start + len(text),
        chunk_index=0,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        file_hash="0" * 64,
    )
    return StoredChunk(cid, text, meta)
