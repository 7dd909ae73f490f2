"""Hybrid retrieval: dense (Chroma) and lexical (BM25) over the same chunks, plus exact
identifier matches, fused by reciprocal rank fusion, then diversified (MMR with a cap per
document) so that one long document does not crowd out the rest."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ingest.embed import Encoder
from ingest.models import ChunkMeta
from ingest.store import IndexStore, StoredChunk
from rag.glossary import expanded_query
from rag.text import ident_regex, identifiers, path_terms, subdivisions, terms
from tradechat.settings import Settings

_DIGITS = re.compile(r"\d+")


@dataclass
class Passage:
    """A retrieved chunk with its fused score and the evidence behind it."""

    id: str
    text: str
    meta: ChunkMeta
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    ident_match: bool = False
    embedding: np.ndarray | None = field(default=None, repr=False)


def _ident_heading(chunk: StoredChunk) -> str:
    """Where a chunk's identifier stands besides its text: "§ 4611 USMCA > § 4611. ..."."""
    return f"{chunk.meta.section_id or ''} {chunk.meta.heading_path}"


class BM25Index:
    """Okapi BM25 over chunk texts (heading path included), as a sparse matrix: a query
    costs one sparse column slice, fast enough for 100,000 chunks. Also an index of the
    digit runs in each chunk, which narrows identifier matching to the chunks that can
    hold the identifier (see ``ident_candidates``)."""

    def __init__(self, chunks: list[StoredChunk], k1: float = 1.2, b: float = 0.75):
        self.chunks = chunks
        self.ids = [c.id for c in chunks]
        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.zeros(len(chunks), dtype=np.float32)
        runs: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            head = _ident_heading(chunk)
            for run in set(_DIGITS.findall(f"{head}\n{chunk.text}")):
                runs.setdefault(run, []).append(i)
            toks = terms(f"{chunk.meta.heading_path}\n{chunk.text}")
            lengths[i] = len(toks)
            for tok, tf in Counter(toks).items():
                j = self.vocab.setdefault(tok, len(self.vocab))
                rows.append(i)
                cols.append(j)
                vals.append(tf)
        n = max(1, len(chunks))
        avg = float(lengths.mean()) if len(chunks) else 1.0
        tf = sparse.csr_matrix(
            (np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(chunks), len(self.vocab))
        )
        df = np.bincount(np.array(cols, dtype=np.int64), minlength=len(self.vocab))
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-6))
        tf = tf.tocoo()
        weights = tf.data * (k1 + 1) / (tf.data + norm[tf.row])
        self.matrix = sparse.csc_matrix(
            (weights * self.idf[tf.col], (tf.row, tf.col)), shape=tf.shape
        )
        self._runs = {run: np.asarray(ix, dtype=np.int64) for run, ix in runs.items()}
        # The words of the documents' file names ("kiddle_usmca_facts.txt"): a user may name a
        # document by its publisher, which its text never mentions.
        sources = {c.meta.source for c in chunks}
        self.source_terms = set(path_terms(" ".join(sources)))
        self._by_position: dict[tuple[str, int], StoredChunk] | None = None
        self._by_id: dict[str, StoredChunk] = {}

    def holds(self, ident: str) -> bool:
        """Whether any chunk (heading or text) holds the identifier ``ident``."""
        pattern = ident_regex(ident)
        for i in self.ident_candidates([ident]):
            c = self.chunks[i]
            if pattern.search(f"{_ident_heading(c)}\n{c.text}"):
                return True
        return False

    def ident_candidates(self, idents: list[str]) -> list[int]:
        """Indices (ascending) of the chunks that can match one of ``idents``.

        ``ident_regex`` requires every number of the identifier ("34" and "7" of
        "Article 34.7", "19" and "4611" of "19 U.S.C. 4611") as a whole digit run in the
        heading or text, so only chunks holding all of them need the regex test. Scanning
        every chunk with regexes took seconds per question at 100,000 chunks.
        """
        found: set[int] = set()
        for ident in idents:
            postings = [self._runs.get(run) for run in set(_DIGITS.findall(ident))]
            if not postings:  # no number to look up: every chunk is a candidate
                return list(range(len(self.chunks)))
            if any(p is None for p in postings):
                continue
            postings.sort(key=len)
            idx = postings[0]
            for other in postings[1:]:
                idx = np.intersect1d(idx, other, assume_unique=True)
            found.update(idx.tolist())
        return sorted(found)

    def next_in_section(self, chunk_id: str) -> StoredChunk | None:
        """The chunk that follows ``chunk_id`` in its document, if it is in the same section
        (a list or a clause that runs on past a chunk boundary)."""
        if self._by_position is None:
            self._by_position = {(c.meta.source, c.meta.chunk_index): c for c in self.chunks}
            self._by_id = {c.id: c for c in self.chunks}
        c = self._by_id.get(chunk_id)
        if c is None:
            return None
        nxt = self._by_position.get((c.meta.source, c.meta.chunk_index + 1))
        same = nxt is not None and (
            (c.meta.section_id or c.meta.heading_path)
            == (nxt.meta.section_id or nxt.meta.heading_path)
        )
        return nxt if same else None

    def idf_of(self, term: str) -> float:
        j = self.vocab.get(term)
        return float(self.idf[j]) if j is not None else float(self.idf.max(initial=1.0))

    def scores(self, query: str) -> np.ndarray:
        cols = [self.vocab[t] for t in set(terms(query)) if t in self.vocab]
        if not cols or not self.chunks:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self.matrix[:, cols].sum(axis=1)).ravel()

    def top(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        s = self.scores(query)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        k = min(k, int((s > 0).sum()))
        if k == 0:
            return []
        idx = np.argpartition(-s, k - 1)[:k]
        idx = idx[np.argsort(-s[idx])]
        return [(int(i), float(s[i])) for i in idx]


class Retriever:
    """Dense + BM25 + identifier retrieval over one index."""

    def __init__(self, store: IndexStore, encoder: Encoder, settings: Settings):
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self._lock = threading.Lock()
        self._bm25: BM25Index | None = None
        self._bm25_count = -1

    def bm25(self) -> BM25Index:
        """The lexical index, rebuilt when the chunk count changed (upload, delete)."""
        count = self.store.count()
        with self._lock:
            if self._bm25 is None or count != self._bm25_count:
                self._bm25 = BM25Index(self.store.all_chunks())
                self._bm25_count = count
            return self._bm25

    def invalidate(self) -> None:
        with self._lock:
            self._bm25 = None

    def retrieve(
        self, query: str, filters: dict | None = None, query_embedding: list[float] | None = None
    ) -> list[Passage]:
        """The top passages for ``query``, fused, diversified, best first."""
        s = self.settings
        pool = self.candidates(query, filters, query_embedding)
        return mmr(pool, s.top_k, s.mmr_lambda, s.max_per_source)

    def candidates(
        self,
        query: str,
        filters: dict | None = None,
        query_embedding: list[float] | None = None,
        bm25: BM25Index | None = None,
    ) -> list[Passage]:
        """The fused candidate pool (``rerank_pool`` passages, best first, with embeddings).

        ``bm25``: the lexical index the caller already holds for this question (saves a
        store count per call)."""
        s = self.settings
        mode = s.retrieval_mode
        where = _where(filters)
        ranked: list[list[str]] = []
        pool: dict[str, Passage] = {}
        bm25 = bm25 or self.bm25()
        allowed = _allowed_mask(bm25, filters)

        if mode in ("hybrid", "dense"):
            emb = query_embedding or self.encoder.embed_one(query)
            hits = self.store.query(emb, s.dense_k, where=where, with_embeddings=True)
            ranked.append([h.id for h in hits])
            for h in hits:
                pool[h.id] = Passage(
                    h.id,
                    h.text,
                    h.meta,
                    0.0,
                    dense=h.score,
                    embedding=np.asarray(h.embedding, dtype=np.float32)
                    if h.embedding is not None
                    else None,
                )
        if mode in ("hybrid", "bm25"):
            lex = bm25.top(expanded_query(query), s.bm25_k, allowed)
            ranked.append([bm25.ids[i] for i, _ in lex])
            top_lex = lex[0][1] if lex else 1.0
            for i, score in lex:
                c = bm25.chunks[i]
                p = pool.setdefault(c.id, Passage(c.id, c.text, c.meta, 0.0))
                p.lexical = score / top_lex
        # Exact identifiers ("Article 2205", "§ 4611", "Executive Order 14193"): the passages
        # that carry them form a third ranked list, ordered by BM25 among themselves.
        idents = identifiers(query)
        if idents and mode != "dense":
            ranked.append(self._identifier_hits(idents, bm25, query, allowed, pool))

        fused: Counter[str] = Counter()
        for lst in ranked:
            for rank, cid in enumerate(lst):
                fused[cid] += 1.0 / (s.rrf_k + rank + 1)
        if not fused:
            return []
        best = max(fused.values())
        for cid, score in fused.items():
            pool[cid].score = score / best
        candidates = sorted(pool.values(), key=lambda p: -p.score)[: max(s.top_k, s.rerank_pool)]
        # A passage that one retriever ranks near the top stays in the pool even when the
        # other retriever missed it (RRF alone would bury it): re-ranking decides.
        have = {p.id for p in candidates}
        for lst in ranked:
            for cid in lst[:4]:
                if cid not in have:
                    have.add(cid)
                    candidates.append(pool[cid])
        self.fill_embeddings(candidates)
        return candidates

    def _identifier_hits(
        self,
        idents: list[str],
        bm25: BM25Index,
        query: str,
        allowed: np.ndarray | None,
        pool: dict[str, Passage],
    ) -> list[str]:
        patterns = [ident_regex(i) for i in idents]
        # "§ 1702(b)": the passage holding subdivision (b) of that section comes first.
        subs = [re.compile(rf"(?:^|\n)\s*{re.escape(m)}\s", re.I) for m in subdivisions(query)]
        lex = bm25.scores(query)
        per_ident: list[list[tuple[float, int]]] = [[] for _ in patterns]
        for i in bm25.ident_candidates(idents):
            if allowed is not None and not allowed[i]:
                continue
            c = bm25.chunks[i]
            head = _ident_heading(c)
            for k, pat in enumerate(patterns):
                in_head = bool(pat.search(head))
                if in_head or pat.search(c.text):
                    # A passage *about* the identifier (its heading) beats one that mentions
                    # it; within those, the one with the cited subdivision.
                    sub = 500.0 if in_head and any(x.search(c.text) for x in subs) else 0.0
                    per_ident[k].append((float(lex[i]) + (1000.0 if in_head else 0.0) + sub, i))
        # Each identifier's best passages in turn, so that a second one is not buried.
        for lst in per_ident:
            lst.sort(reverse=True)
        hits: list[tuple[float, int]] = []
        seen: set[int] = set()
        for rank in range(max((len(lst) for lst in per_ident), default=0)):
            for lst in per_ident:
                if rank < len(lst) and lst[rank][1] not in seen:
                    seen.add(lst[rank][1])
                    hits.append(lst[rank])
        out = []
        for _, i in hits[: self.settings.bm25_k]:
            c = bm25.chunks[i]
            p = pool.setdefault(c.id, Passage(c.id, c.text, c.meta, 0.0))
            p.ident_match = True
            out.append(c.id)
        return out

    def fill_embeddings(self, passages: list[Passage]) -> None:
        missing = [p.id for p in passages if p.embedding is None]
        if missing:
            embs = self.store.embeddings(missing)
            for p in passages:
                if p.embedding is None and p.id in embs:
                    p.embedding = np.asarray(embs[p.id], dtype=np.float32)


def mmr(candidates: list[Passage], k: int, lam: float, max_per_source: int) -> list[Passage]:
    """Maximal marginal relevance with at most ``max_per_source`` passages per document
    while other documents are left to choose from (then the cap is lifted: a question that
    one document answers still gets ``k`` passages).

    >>> a = Passage("a", "", None, 1.0, embedding=np.array([1.0, 0.0]))
    >>> b = Passage("b", "", None, 0.9, embedding=np.array([1.0, 0.0]))
    >>> c = Passage("c", "", None, 0.8, embedding=np.array([0.0, 1.0]))
    >>> [p.id for p in mmr([a, b, c], 2, 0.5, 5)]
    ['a', 'c']
    >>> [p.id for p in mmr([a, b, c], 3, 0.5, 1)]  # one document: the cap gives way
    ['a', 'c', 'b']
    """
    chosen: list[Passage] = []
    per_source: Counter[str] = Counter()
    remaining = list(candidates)
    capped = True
    while remaining and len(chosen) < k:
        best, best_val = None, -math.inf
        for p in remaining:
            src = p.meta.source if p.meta is not None else p.id
            if capped and per_source[src] >= max_per_source:
                continue
            sim = 0.0
            if chosen and p.embedding is not None:
                sim = max(
                    float(p.embedding @ q.embedding) for q in chosen if q.embedding is not None
                )
            val = lam * p.score - (1 - lam) * sim
            if val > best_val:
                best, best_val = p, val
        if best is None:
            if not capped:
                break
            capped = False  # only over-cap documents are left
            continue
        chosen.append(best)
        per_source[best.meta.source if best.meta is not None else best.id] += 1
        remaining.remove(best)
    return chosen


def _where(filters: dict | None) -> dict | None:
    if not filters:
        return None
    clauses = []
    for key in ("source", "kind"):
        values = filters.get(key)
        if values:
            values = [values] if isinstance(values, str) else list(values)
            clauses.append({key: {"$in": values}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _allowed_mask(bm25: BM25Index, filters: dict | None) -> np.ndarray | None:
    if not filters or not (filters.get("source") or filters.get("kind")):
        return None
    sources = filters.get("source")
    kinds = filters.get("kind")
    sources = {sources} if isinstance(sources, str) else set(sources or [])
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or [])
    return np.array(
        [
            (not sources or c.meta.source in sources) and (not kinds or c.meta.kind in kinds)
            for c in bm25.chunks
        ],
        dtype=bool,
    )
