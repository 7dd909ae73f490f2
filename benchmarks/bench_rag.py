"""Answering benchmark: latency of retrieval and of whole answers, and retrieval at scale.

Part ``answer``: index ``../shared/corpus`` (or reuse ``--index DIR``), warm up (model
loaded, lexical index built), then ask every question of
``evals/questions_shared_corpus.jsonl`` (follow-ups with their history) twice with the
default extractive answerer: a *cold* pass (the per-chunk sentence cache emptied first)
and a *warm* pass (same questions again). Reports p50/p95 of the chain's own
``timings_ms`` (retrieve, answer, total) and of the wall time per question, and of the bare
``Retriever.candidates()`` / ``retrieve()`` (no re-ranking).

Part ``scale``: a fresh index in a temporary folder holding the real corpus chunks (their
real embeddings) plus ``--chunks`` synthetic ones: texts recombined from corpus sentences
(so BM25 and identifier matching see realistic text, identifiers included), embeddings
random unit vectors (embedding 100,000 texts would take hours on 2 cores). Reports the
insert time, the BM25 build time and memory, then ``candidates()`` / ``retrieve()`` latency
(dense + BM25 + identifiers, fused; query embeddings precomputed) with a breakdown by
stage, and the whole chain's latency at that size.

Usage::

    python benchmarks/bench_rag.py                           # both parts, temporary index
    python benchmarks/bench_rag.py --index /tmp/sc-index      # build once, then reuse
    python benchmarks/bench_rag.py --part scale --chunks 20000 --profile

Settings other than the index location come from TRADECHAT_* variables as usual, so a
tuning change can be benchmarked without editing this script. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

import rag.retrieve as retrieve_module
from ingest.embed import Encoder, get_encoder
from ingest.models import ChunkMeta
from ingest.pipeline import ingest_paths
from ingest.store import IndexStore, open_store
from rag.chain import RagPipeline, answer_question
from rag.models import Turn
from rag.retrieve import BM25Index, Retriever
from rag.text import identifiers, sentences
from tradechat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_QUESTIONS = ROOT / "evals" / "questions_shared_corpus.jsonl"
WARM_UP = "What is the USMCA and which agreement did it replace?"


# --- small helpers ------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)
    10
    >>> percentile([1, 2, 3, 4], 50)
    2
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def row(label: str, values: list[float], width: int = 34) -> str:
    if not values:
        return f"  {label:<{width}} (none)"
    return (
        f"  {label:<{width}} p50 {percentile(values, 50):8.1f}   p95 {percentile(values, 95):8.1f}"
        f"   mean {statistics.fmean(values):8.1f}   max {max(values):8.1f}   n={len(values)}"
    )


def rss_mb() -> float:
    """Resident memory of this process (Linux), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_questions(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000, out


# --- part 1: answer latency on the shared corpus -------------------------------------------------
def build_index(corpus: Path, index_dir: Path, encoder: Encoder) -> Settings:
    settings = Settings(data_dir=index_dir / "data", index_dir=index_dir / "chroma")
    t0 = time.perf_counter()
    report = ingest_paths([corpus], settings=settings, encoder=encoder, progress=False)
    totals = {k: v for k, v in report.totals.items() if v}
    print(f"index: {settings.resolved_index_dir} [{report.collection}]")
    print(
        f"  ingest {time.perf_counter() - t0:.1f} s  files {totals}  "
        f"chunks added {report.chunks_added}"
    )
    return settings


def run_pass(pipeline: RagPipeline, questions: list[dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for q in questions:
        history = [Turn(**t) for t in q.get("history", [])]
        wall, answer = timed(answer_question, q["question"], history=history, pipeline=pipeline)
        out["wall"].append(wall)
        for key, value in answer.timings_ms.items():
            out[key].append(value)
        out["refused"].append(float(answer.refused))
        out["citations"].append(float(len(answer.citations)))
    return out


def print_pass(name: str, res: dict[str, list[float]]) -> None:
    n = len(res["wall"])
    print(
        f"\n{name} pass ({n} questions, {int(sum(res['refused']))} refused, "
        f"{statistics.fmean(res['citations']):.1f} citations per answer) [ms]"
    )
    for key in ("retrieve", "answer", "total", "wall"):
        label = {"wall": "wall time per question"}.get(key, f"timings_ms.{key}")
        print(row(label, res[key]))


def bench_retriever(
    retriever: Retriever, questions: list[str], q_embs: np.ndarray, filters: dict | None = None
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for q, emb in zip(questions, q_embs, strict=True):
        ms, _ = timed(retriever.candidates, q, filters, query_embedding=emb.tolist())
        out["candidates"].append(ms)
        ms, _ = timed(retriever.retrieve, q, filters, query_embedding=emb.tolist())
        out["retrieve"].append(ms)
    return out


def part_answer(args, encoder: Encoder, index_dir: Path) -> Settings:
    print("=" * 100)
    print(f"PART 1: answer latency on {args.corpus}")
    settings = build_index(args.corpus, index_dir, encoder)
    items = load_questions(args.questions)
    pipeline = RagPipeline(settings, encoder=encoder)
    print(f"  chunks in index: {pipeline.store.count()}")

    ms, _ = timed(answer_question, WARM_UP, pipeline=pipeline)
    print(f"  warm-up question (lexical index built, caches filled): {ms:.0f} ms")
    pipeline.reset()  # empty the sentence and document caches ...
    ms, _ = timed(pipeline.retriever.bm25)  # ... but do not bill the BM25 rebuild to a question
    print(f"  BM25 build over the corpus: {ms:.0f} ms")

    cold = run_pass(pipeline, items)
    warm = run_pass(pipeline, items)
    print_pass("COLD (sentence cache empty)", cold)
    print_pass("WARM (second pass)", warm)

    texts = [q["question"] for q in items]
    t0 = time.perf_counter()
    q_embs = np.asarray(encoder.embed(texts), dtype=np.float32)
    per_q = [timed(encoder.embed_one, t)[0] for t in texts[:20]]
    print(
        f"\nquery embedding: batch of {len(texts)} in {(time.perf_counter() - t0) * 1000:.0f} ms; "
        f"one at a time p50 {percentile(per_q, 50):.1f} ms"
    )
    res = bench_retriever(pipeline.retriever, texts, q_embs)
    print("bare Retriever (query embedding given, no re-ranking) [ms]")
    print(row("candidates()", res["candidates"]))
    print(row("retrieve() (candidates + MMR)", res["retrieve"]))
    return settings


# --- part 2: retrieval with many chunks ---------------------------------------------------------
def copy_collection(src: IndexStore, dst: IndexStore) -> int:
    """Copy chunks (with their real embeddings) and file records from ``src`` to ``dst``."""
    got = src.chunks.get(include=["embeddings", "documents", "metadatas"])
    for i in range(0, len(got["ids"]), dst.batch):
        sl = slice(i, i + dst.batch)
        dst.chunks.upsert(
            ids=got["ids"][sl],
            embeddings=got["embeddings"][sl],
            documents=got["documents"][sl],
            metadatas=got["metadatas"][sl],
        )
    files = src.files.get(include=["embeddings", "documents", "metadatas"])
    if files["ids"]:
        dst.files.upsert(
            ids=files["ids"],
            embeddings=files["embeddings"],
            documents=files["documents"],
            metadatas=files["metadatas"],
        )
    return len(got["ids"])


def synthetic_chunks(pool: list[str], n: int, dim: int, seed: int, batch: int):
    """Yield batches of (ids, texts, metas, embeddings) for ``n`` synthetic chunks."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    kinds = ["agreement", "legislation", "article", "note", "document"]
    per_doc = 40
    offsets: dict[int, int] = defaultdict(int)
    for b in range(0, n, batch):
        ids, texts, metas = [], [], []
        for i in range(b, min(n, b + batch)):
            doc, part = divmod(i, per_doc)
            text = " ".join(rng.sample(pool, rng.randint(4, 8)))
            source = f"synthetic/doc_{doc:05d}.txt"
            start = offsets[doc]
            offsets[doc] = start + len(text) + 2
            cid = hashlib.sha256(f"{source}:{part}".encode()).hexdigest()[:32]
            ids.append(cid)
            texts.append(text)
            metas.append(
                ChunkMeta(
                    chunk_id=cid,
                    source=source,
                    title=f"Synthetic document {doc}",
                    kind=kinds[doc % len(kinds)],
                    heading_path=f"Synthetic document {doc} > Part {part}",
                    start=start,
                    end=start + len(text),
                    chunk_index=part,
                    content_hash=hashlib.sha256(text.encode()).hexdigest(),
                    file_hash="0" * 64,
                )
            )
        embs = nrng.standard_normal((len(ids), dim)).astype(np.float32)
        embs /= np.linalg.norm(embs, axis=1, keepdims=True)
        yield ids, texts, metas, embs.tolist()


class StageTimer:
    """Wraps methods of an object to sum the time spent in each, per query."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.per_query: dict[str, list[float]] = {}

    def wrap(self, obj, name: str, label: str) -> None:
        fn = getattr(obj, name)
        self.per_query[label] = []

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.current[label] += (time.perf_counter() - t0) * 1000

        setattr(obj, name, wrapper)

    def next_query(self) -> None:
        """Close the current query (0 ms for a stage it did not reach)."""
        for label, values in self.per_query.items():
            values.append(self.current.get(label, 0.0))
        self.current = defaultdict(float)


def part_scale(args, encoder: Encoder, real_settings: Settings, scratch: Path) -> None:
    print("\n" + "=" * 100)
    print(f"PART 2: retrieval with {args.chunks:,} synthetic chunks + the real corpus chunks")
    real = open_store(real_settings, encoder.label, encoder.max_tokens)
    settings = Settings(data_dir=scratch / "data", index_dir=scratch / "chroma")
    store = open_store(settings, encoder.label, encoder.max_tokens)
    n_real = copy_collection(real, store)

    pool = []
    for c in real.all_chunks():
        pool.extend(" ".join(s.text.split()) for s in sentences(c.text) if len(s.text.split()) >= 5)
    print(f"  real chunks copied: {n_real}; sentence pool for synthetic text: {len(pool)}")

    t0 = time.perf_counter()
    for ids, texts, metas, embs in synthetic_chunks(
        pool, args.chunks, encoder.dim, args.seed, store.batch
    ):
        store.add_chunks(ids, texts, metas, embs)
    insert_s = time.perf_counter() - t0
    total = store.count()
    print(
        f"  inserted {args.chunks:,} chunks into Chroma in {insert_s:.0f} s "
        f"({args.chunks / insert_s:.0f}/s); index now {total:,} chunks"
    )

    # BM25: read every chunk back, then build the sparse matrix (what a restart or an upload costs)
    rss0 = rss_mb()
    read_ms, chunks = timed(store.all_chunks)
    rss1 = rss_mb()
    build_ms, bm25 = timed(BM25Index, chunks)
    rss2 = rss_mb()
    m = bm25.matrix
    matrix_mb = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 1e6
    print(
        f"  BM25: read {len(chunks):,} chunks from Chroma {read_ms / 1000:.1f} s, "
        f"build {build_ms / 1000:.1f} s; vocabulary {len(bm25.vocab):,} terms, "
        f"{m.nnz:,} postings"
    )
    print(
        f"  memory: sparse matrix {matrix_mb:.0f} MB; process RSS +{rss1 - rss0:.0f} MB for "
        f"the chunk list (texts + metadata), +{rss2 - rss1:.0f} MB for the BM25 build "
        f"(RSS now {rss2:.0f} MB)"
    )
    del chunks, bm25

    retriever = Retriever(store, encoder, settings)
    ms, _ = timed(retriever.bm25)
    print(f"  Retriever.bm25() first call (read + build): {ms / 1000:.1f} s; RSS {rss_mb():.0f} MB")

    items = load_questions(args.questions)
    texts = [q["question"] for q in items]
    q_embs = np.asarray(encoder.embed(texts), dtype=np.float32)
    with_ids = sum(1 for t in texts if identifiers(t))
    for q, e in zip(texts[:3], q_embs[:3], strict=True):  # warm-up
        retriever.retrieve(q, query_embedding=e.tolist())

    stages = StageTimer()
    stages.wrap(retriever.store, "count", "store.count")
    stages.wrap(retriever.store, "query", "dense (Chroma query)")
    stages.wrap(retriever.store, "embeddings", "fill embeddings (Chroma get)")
    stages.wrap(retriever, "_identifier_hits", "identifier hits")
    bm25 = retriever.bm25()
    stages.wrap(bm25, "top", "BM25 top")
    res: dict[str, list[float]] = defaultdict(list)
    profiler = cProfile.Profile() if args.profile else None
    for q, e in zip(texts, q_embs, strict=True):
        if profiler:
            profiler.enable()
        ms, _ = timed(retriever.candidates, q, query_embedding=e.tolist())
        if profiler:
            profiler.disable()
        res["candidates"].append(ms)
        stages.next_query()
        ms, _ = timed(retriever.retrieve, q, query_embedding=e.tolist())
        res["retrieve"].append(ms)
        stages.current = defaultdict(float)  # breakdown is for candidates() only
    print(
        f"\nretrieval at {total:,} chunks over {len(texts)} questions ({with_ids} with "
        f"identifiers), query embedding given [ms]"
    )
    print(row("candidates() (dense+BM25+ident, RRF)", res["candidates"], 40))
    print(row("retrieve() (candidates + MMR)", res["retrieve"], 40))
    print("  of which, per candidates() call:")
    for label, values in stages.per_query.items():
        if label != "identifier hits":
            print(row(f"  {label}", values, 40))
    ident_ms = [
        ms
        for t, ms in zip(texts, stages.per_query["identifier hits"], strict=True)
        if identifiers(t)
    ]
    print(row("  identifier hits (questions with one)", ident_ms, 40))
    plain = [ms for t, ms in zip(texts, res["candidates"], strict=True) if not identifiers(t)]
    print(row("candidates(), questions without identifiers", plain, 40))

    # With a filter by source: Chroma filters the dense side, a mask the lexical side
    real_source = next(c.meta.source for c in bm25.chunks if not c.meta.source.startswith("synth"))
    filters = {"source": [real_source]}
    stages.wrap(retrieve_module, "_allowed_mask", "filter mask (BM25 side)")
    stages.per_query = {label: [] for label in stages.per_query}
    stages.current = defaultdict(float)
    fres: list[float] = []
    for q, e in zip(texts[:30], q_embs[:30], strict=True):
        ms, _ = timed(retriever.candidates, q, filters, query_embedding=e.tolist())
        fres.append(ms)
        stages.next_query()
    print(row("candidates() with a source filter", fres, 40))
    for label in ("dense (Chroma query)", "filter mask (BM25 side)"):
        print(row(f"  {label}", stages.per_query[label], 40))

    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
        print("\nprofile of candidates() over the question set (cumulative):")
        print(re.sub(r"\n{3,}", "\n\n", out.getvalue()))

    # The whole chain at this size (query embedding, re-ranking, answer, citations), on a
    # subset: a cold pass embeds the sentences of every passage it meets
    pipeline = RagPipeline(settings, encoder=encoder, store=store)
    pipeline.retriever = retriever
    subset = items[:: max(1, len(items) // args.chain_questions)][: args.chain_questions]
    print_pass(f"WHOLE CHAIN at {total:,} chunks, COLD", run_pass(pipeline, subset))
    print_pass(f"WHOLE CHAIN at {total:,} chunks, WARM", run_pass(pipeline, subset))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument(
        "--index",
        type=Path,
        metavar="DIR",
        help="folder for the corpus index (built or updated there, then reused); "
        "default: a temporary folder",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=100_000,
        help="synthetic chunks for the scale part (default 100000)",
    )
    parser.add_argument("--part", choices=["answer", "scale", "all"], default="all")
    parser.add_argument(
        "--chain-questions",
        type=int,
        default=30,
        help="questions for the whole-chain passes at scale (default 30)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile candidates() at scale and print the top functions",
    )
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"corpus folder not found: {args.corpus}")

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t0 = time.perf_counter()
    encoder = get_encoder()
    encoder.embed_one("warm up")
    print(
        f"encoder {encoder.label} loaded in {time.perf_counter() - t0:.1f} s; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="tradechat-bench-rag-") as tmp:
        index_dir = args.index or Path(tmp) / "corpus"
        if args.part in ("answer", "all"):
            settings = part_answer(args, encoder, index_dir)
        else:
            settings = build_index(args.corpus, index_dir, encoder)
        if args.part in ("scale", "all"):
            part_scale(args, encoder, settings, Path(tmp) / "scale")
    print(
        f"\ndone in {time.perf_counter() - t0:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f} (other processes share the {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
