"""The Chroma store: chunks with their embeddings, and a manifest of ingested files.

Two collections per index:

* ``<name>``: one record per chunk (id, embedding, passage text, ``ChunkMeta``).
* ``<name>__files``: one record per ingested file (id = source), holding the file's clean
  text and its hash. A file's complete record is written only after all its chunks are
  stored; a new file first gets a *pending* record (empty hash) that names its root. So a
  run killed midway leaves that file looking "changed" (or pending), and the next run
  completes it, or removes its chunks if the file is gone by then.

The collection name carries everything that makes an index incompatible (embedding model,
splitter version and chunk size), so a changed setting never reuses a stale index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ingest.embed import slug
from ingest.models import ChunkMeta
from tradechat.errors import ConfigError

log = logging.getLogger("tradechat.store")

# Bump when loaders or the splitter change the chunks they produce: a new collection name
# makes every index built by an older version be rebuilt instead of silently mixed.
SPLITTER_VERSION = "s6"


def collection_name(model_label: str, chunk_tokens: int, max_tokens: int) -> str:
    """Name that changes whenever the index would be incompatible.

    >>> name = collection_name("all-MiniLM-L6-v2", 200, 256)
    >>> name.startswith("tc-all-minilm-l6-v2-c200-"), name != collection_name("x", 200, 256)
    (True, True)
    """
    key = json.dumps([SPLITTER_VERSION, model_label, chunk_tokens, max_tokens])
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"tc-{slug(model_label)[:60]}-c{chunk_tokens}-{digest}"


@dataclass
class FileRecord:
    """What the manifest knows about one ingested file."""

    source: str
    file_hash: str
    root: str
    title: str
    kind: str
    n_chunks: int
    pages: list[dict]
    encoding_note: str | None = None


@dataclass
class StoredChunk:
    """A chunk read back from the store (with a score when it came from a query)."""

    id: str
    text: str
    meta: ChunkMeta
    score: float = 0.0
    embedding: list[float] | None = None


def make_client(index_dir: Path | None, chroma_url: str | None):
    """An embedded PersistentClient in ``index_dir``, or an HttpClient for ``chroma_url``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:
            raise ConfigError(
                f"cannot reach the Chroma server at {chroma_url} ({exc}); start it with "
                "`chroma run --path DIR --port PORT` or unset TRADECHAT_CHROMA_URL"
            ) from exc
    assert index_dir is not None
    index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir), settings=chroma_settings)


class IndexStore:
    """Reads and writes one index (a chunk collection and its file manifest).

    ``ef_search``: the breadth of Chroma's approximate (HNSW) search (``None``: Chroma's
    default). An index built with another value is updated to it when opened.
    """

    def __init__(self, client, name: str, ef_search: int | None = None):
        self.client = client
        self.name = name
        hnsw = {"space": "cosine"} | ({"ef_search": ef_search} if ef_search else {})
        self.chunks = client.get_or_create_collection(
            name,
            metadata={"hnsw:space": "cosine"},
            configuration={"hnsw": hnsw},
            embedding_function=None,
        )
        if ef_search and _ef_search(self.chunks) != ef_search:
            self._widen(ef_search)
        self.files = client.get_or_create_collection(f"{name}__files", embedding_function=None)
        self.batch = max(1, min(1000, int(client.get_max_batch_size())))

    def _widen(self, ef_search: int, tries: int = 8) -> None:
        """Set the collection's search breadth. SQLite may be busy for a moment (another
        process writing, Chroma's own background work): try again a few times. An index
        that cannot be changed (read-only, a server that refuses) is still usable."""
        for attempt in range(1, tries + 1):
            try:
                self.chunks.modify(configuration={"hnsw": {"ef_search": ef_search}})
                return
            except Exception as exc:
                if "locked" in str(exc).lower() and attempt < tries:
                    time.sleep(0.2 * attempt)
                    continue
                log.warning(
                    "could not set the index's search breadth to %d (%s); searching at %s",
                    ef_search,
                    exc,
                    _ef_search(self.chunks) or "Chroma's default",
                )
                return

    # --- manifest --------------------------------------------------------------------------
    def file_records(self) -> dict[str, FileRecord]:
        got = self.files.get(include=["metadatas"])
        out = {}
        for sid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            out[sid] = FileRecord(
                source=sid,
                file_hash=meta["file_hash"],
                root=meta.get("root", ""),
                title=meta.get("title", sid),
                kind=meta.get("kind", "document"),
                n_chunks=int(meta.get("n_chunks", 0)),
                pages=json.loads(meta.get("pages", "[]")),
                encoding_note=meta.get("encoding_note") or None,
            )
        return out

    def put_file(self, record: FileRecord, text: str) -> None:
        self.put_files([(record, text)])

    def put_files(self, files: list[tuple[FileRecord, str]]) -> None:
        """Write complete manifest records (one store call: each call commits to disk)."""
        self._put_records(files, pending=False)

    def put_pending(self, files: list[tuple[FileRecord, str]]) -> None:
        """Record files (and their text) whose chunks are about to be written, with an empty
        hash meaning "incomplete": a crash then leaves no chunk without a manifest record
        that names its root, and no chunk whose document text is unknown."""
        self._put_records(files, pending=True)

    def _put_records(self, files: list[tuple[FileRecord, str]], pending: bool) -> None:
        for i in range(0, len(files), self.batch):
            part = files[i : i + self.batch]
            metas = [
                {
                    "file_hash": "" if pending else r.file_hash,
                    "root": r.root,
                    "title": r.title,
                    "kind": r.kind,
                    "n_chunks": 0 if pending else r.n_chunks,
                    "pages": json.dumps(r.pages),
                    "encoding_note": r.encoding_note or "",
                }
                for r, _ in part
            ]
            self.files.upsert(
                ids=[r.source for r, _ in part],
                embeddings=[[1.0]] * len(part),
                documents=[text for _, text in part],
                metadatas=metas,
            )

    def set_root(self, source: str, root: str) -> None:
        """Move an unchanged file's record to another root (its folder was moved)."""
        self.files.update(ids=[source], metadatas=[{"root": root}])

    def delete_file(self, source: str) -> int:
        """Remove a file's chunks, then its manifest record. Returns chunks removed."""
        ids = list(self.chunk_hashes(source))
        self.delete_chunks(ids)
        self.files.delete(ids=[source])
        return len(ids)

    def document_text(self, source: str) -> str | None:
        got = self.files.get(ids=[source], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else None

    # --- chunks ----------------------------------------------------------------------------
    def chunk_hashes(self, source: str) -> dict[str, str]:
        """{chunk id: content hash} of every stored chunk of ``source``."""
        got = self.chunks.get(where={"source": source}, include=["metadatas"])
        return {i: m["content_hash"] for i, m in zip(got["ids"], got["metadatas"], strict=False)}

    def sources_with_chunks(self) -> set[str]:
        got = self.chunks.get(include=["metadatas"])
        return {m["source"] for m in got["metadatas"] or []}

    def add_chunks(
        self,
        ids: list[str],
        texts: list[str],
        metas: list[ChunkMeta],
        embeddings: list[list[float]],
    ) -> None:
        for i in range(0, len(ids), self.batch):
            j = i + self.batch
            self.chunks.upsert(
                ids=ids[i:j],
                embeddings=embeddings[i:j],
                documents=texts[i:j],
                metadatas=[m.to_chroma() for m in metas[i:j]],
            )

    def update_metas(self, ids: list[str], metas: list[ChunkMeta]) -> None:
        for i in range(0, len(ids), self.batch):
            j = i + self.batch
            self.chunks.update(ids=ids[i:j], metadatas=[m.to_chroma() for m in metas[i:j]])

    def delete_chunks(self, ids: list[str]) -> None:
        for i in range(0, len(ids), self.batch):
            self.chunks.delete(ids=ids[i : i + self.batch])

    def count(self) -> int:
        return self.chunks.count()

    def all_chunks(self) -> list[StoredChunk]:
        """Every chunk (text and metadata), in a stable order: for BM25 and inspection."""
        out: list[StoredChunk] = []
        total = self.chunks.count()
        page = 5000
        for offset in range(0, total, page):
            got = self.chunks.get(include=["documents", "metadatas"], limit=page, offset=offset)
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False):
                out.append(StoredChunk(cid, doc, ChunkMeta.from_chroma(meta)))
        out.sort(key=lambda c: (c.meta.source, c.meta.start))
        return out

    def query(
        self,
        embedding: list[float],
        k: int,
        where: dict | None = None,
        with_embeddings: bool = False,
    ) -> list[StoredChunk]:
        """The ``k`` nearest chunks; ``score`` is cosine similarity."""
        n = min(k, self.count())
        if n == 0:
            return []
        include = ["documents", "metadatas", "distances"]
        if with_embeddings:
            include.append("embeddings")
        got = self.chunks.query(
            query_embeddings=[embedding], n_results=n, where=where or None, include=include
        )
        embs = got.get("embeddings")
        out = []
        for idx, cid in enumerate(got["ids"][0]):
            emb = None
            if with_embeddings and embs is not None:
                emb = list(embs[0][idx])
            out.append(
                StoredChunk(
                    cid,
                    got["documents"][0][idx],
                    ChunkMeta.from_chroma(got["metadatas"][0][idx]),
                    score=1.0 - float(got["distances"][0][idx]),
                    embedding=emb,
                )
            )
        return out

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for i in range(0, len(ids), self.batch):
            got = self.chunks.get(ids=ids[i : i + self.batch], include=["embeddings"])
            for cid, emb in zip(got["ids"], got["embeddings"], strict=False):
                out[cid] = list(emb)
        return out


def _ef_search(collection) -> int | None:
    config = getattr(collection, "configuration", None) or {}
    return (config.get("hnsw") or {}).get("ef_search")


def open_store(settings, model_label: str, max_tokens: int = 256) -> IndexStore:
    """Open (creating if needed) the index that ``settings`` describe."""
    client = make_client(settings.resolved_index_dir, settings.chroma_url)
    name = collection_name(model_label, settings.chunk_tokens, max_tokens)
    return IndexStore(client, name, settings.dense_ef_search)
